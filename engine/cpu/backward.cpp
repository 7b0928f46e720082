#include "engine/cpu/backward.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace rowshard::cpu {
namespace {

// The bag each position belongs to, and each bag's non-padding entry count
// (mean pooling divides by it).
struct BagTables {
  std::vector<int64_t> bag_of_position;
  std::vector<int64_t> entries;
};

BagTables make_bag_tables(const PooledBatch& batch) {
  BagTables tables;
  tables.bag_of_position.resize(batch.indices.size());
  tables.entries.resize(batch.num_bags());
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < batch.num_bags(); ++b) {
    int64_t entries = 0;
    for (int64_t p = batch.bounds[b]; p < batch.bounds[b + 1]; ++p) {
      tables.bag_of_position[p] = b;
      entries += batch.indices[p] != batch.padding_idx;
    }
    tables.entries[b] = entries;
  }
  return tables;
}

}  // namespace

void for_each_row_gradient(const PooledBatch& batch, const RowGroups& groups,
                           std::span<const int64_t> max_positions,
                           std::span<const float> grad_output, int64_t dim,
                           bool scale_grad_by_freq, RowGradientSink& sink) {
  const BagTables tables = make_bag_tables(batch);

#pragma omp parallel
  {
    std::vector<float> gradient(dim);
#pragma omp for schedule(dynamic, 16)
    for (int64_t g = 0; g < groups.num_groups(); ++g) {
      std::fill(gradient.begin(), gradient.end(), 0.0f);
      // Every occurrence of the row is in its group (padding rows have no
      // group at all), so the group size is the row's frequency.
      const int64_t frequency = scale_grad_by_freq ? groups.group_size(g) : 1;
      for (int64_t i = groups.group_begin[g]; i < groups.group_begin[g + 1];
           ++i) {
        const int64_t p = groups.positions[i];
        const int64_t b = tables.bag_of_position[p];
        const float scale =
            occurrence_scale(batch, p, tables.entries[b], frequency);
        const float* upstream = &grad_output[b * dim];
        if (batch.mode == PoolingMode::max) {
          const int64_t* winners = &max_positions[b * dim];
          for (int64_t d = 0; d < dim; ++d)
            if (winners[d] == p)
              gradient[d] = std::fma(scale, upstream[d], gradient[d]);
        } else {
#pragma omp simd
          for (int64_t d = 0; d < dim; ++d)
            gradient[d] = std::fma(scale, upstream[d], gradient[d]);
        }
      }
      sink.consume(g, groups.rows[g], gradient);
    }
  }
}

}  // namespace rowshard::cpu
