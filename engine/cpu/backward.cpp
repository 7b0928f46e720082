#include "engine/cpu/backward.h"

#include <algorithm>
#include <cmath>

namespace rowshard::cpu {

BackwardPlan::BackwardPlan(std::span<const GradientSource> sources,
                           int64_t num_rows)
    : sources_(sources), bag_entries_(sources.size()) {
  std::vector<int64_t> entry_rows;
  for (std::size_t s = 0; s < sources.size(); ++s) {
    const PooledBatch& batch = sources[s].batch;
    std::vector<int64_t>& counts = bag_entries_[s];
    counts.assign(batch.num_bags(), 0);
    for (int64_t b = 0; b < batch.num_bags(); ++b) {
      for (int64_t p = batch.bounds[b]; p < batch.bounds[b + 1]; ++p) {
        const int64_t r = batch.indices[p];
        if (r == batch.padding_idx) continue;
        entries_.push_back({static_cast<uint32_t>(s), b, p});
        entry_rows.push_back(r);
        ++counts[b];
      }
    }
  }
  groups_ = group_by_row(entry_rows, num_rows, kNoPadding);
}

void for_each_row_gradient(const BackwardPlan& plan, int64_t dim,
                           bool scale_grad_by_freq, RowGradientSink& sink) {
  const RowGroups& groups = plan.groups_;
#pragma omp parallel
  {
    std::vector<float> gradient(dim);
#pragma omp for schedule(dynamic, 16)
    for (int64_t g = 0; g < groups.num_groups(); ++g) {
      std::fill(gradient.begin(), gradient.end(), 0.0f);
      const int64_t frequency = scale_grad_by_freq ? groups.group_size(g) : 1;
      for (int64_t i = groups.group_begin[g]; i < groups.group_begin[g + 1];
           ++i) {
        const BackwardPlan::Entry& entry = plan.entries_[groups.positions[i]];
        const GradientSource& source = plan.sources_[entry.source];
        const float scale = occurrence_scale(
            source.batch, entry.position,
            plan.bag_entries_[entry.source][entry.bag], frequency);
        const float* upstream = source.grad_output + entry.bag * source.stride;
        if (source.batch.mode == PoolingMode::max) {
          const int64_t* winners =
              source.max_positions + entry.bag * source.stride;
          for (int64_t d = 0; d < dim; ++d)
            if (winners[d] == entry.position)
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
