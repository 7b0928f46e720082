#include "engine/cpu/backward.h"

#include <algorithm>
#include <vector>

namespace rowshard::cpu {
namespace {

// The bag each position belongs to, and each bag's 1 / (non-padding
// entries) for mean pooling.
struct BagLookupTables {
  std::vector<int64_t> bag_of_position;
  std::vector<float> inverse_entries;
};

BagLookupTables make_bag_tables(const PooledBatch& batch) {
  BagLookupTables tables;
  tables.bag_of_position.resize(batch.indices.size());
  if (batch.mode == PoolingMode::mean)
    tables.inverse_entries.resize(batch.num_bags());
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < batch.num_bags(); ++b) {
    int64_t entries = 0;
    for (int64_t p = batch.bounds[b]; p < batch.bounds[b + 1]; ++p) {
      tables.bag_of_position[p] = b;
      entries += batch.indices[p] != batch.padding_idx;
    }
    if (batch.mode == PoolingMode::mean && entries > 0)
      tables.inverse_entries[b] = 1.0f / static_cast<float>(entries);
  }
  return tables;
}

}  // namespace

void for_each_row_gradient(const PooledBatch& batch, const RowGroups& groups,
                           std::span<const int64_t> max_positions,
                           std::span<const float> grad_output, int64_t dim,
                           bool scale_grad_by_freq, RowGradientSink& sink) {
  const BagLookupTables tables = make_bag_tables(batch);
  const bool weighted = !batch.per_sample_weights.empty();

#pragma omp parallel
  {
    std::vector<float> gradient(dim);
#pragma omp for schedule(dynamic, 16)
    for (int64_t g = 0; g < groups.num_groups(); ++g) {
      std::fill(gradient.begin(), gradient.end(), 0.0f);
      // Every occurrence of the row is in its group (padding rows have no
      // group at all), so the group size is the row's frequency.
      const float frequency_scale =
          scale_grad_by_freq ? 1.0f / static_cast<float>(groups.group_size(g))
                             : 1.0f;
      for (int64_t i = groups.group_begin[g]; i < groups.group_begin[g + 1];
           ++i) {
        const int64_t p = groups.positions[i];
        const int64_t b = tables.bag_of_position[p];
        const float* upstream = &grad_output[b * dim];
        switch (batch.mode) {
          case PoolingMode::sum: {
            const float w = weighted ? batch.per_sample_weights[p] : 1.0f;
            if (weighted) {
              for (int64_t d = 0; d < dim; ++d)
                gradient[d] += (w * upstream[d]) * frequency_scale;
            } else {
              for (int64_t d = 0; d < dim; ++d)
                gradient[d] += upstream[d] * frequency_scale;
            }
            break;
          }
          case PoolingMode::mean: {
            const float inverse = tables.inverse_entries[b];
            for (int64_t d = 0; d < dim; ++d)
              gradient[d] += (upstream[d] * inverse) * frequency_scale;
            break;
          }
          case PoolingMode::max: {
            const int64_t* winners = &max_positions[b * dim];
            for (int64_t d = 0; d < dim; ++d)
              if (winners[d] == p) gradient[d] += upstream[d] * frequency_scale;
            break;
          }
        }
      }
      sink.consume(g, groups.rows[g], gradient);
    }
  }
}

}  // namespace rowshard::cpu
