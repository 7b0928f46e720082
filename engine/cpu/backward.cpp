#include "engine/cpu/backward.h"

#include <algorithm>
#include <cmath>

#include "engine/cpu/prefetch.h"

namespace rowshard::cpu {
namespace {

// One non-padding entry of a source, before grouping.
struct Entry {
  uint32_t source;
  int64_t bag;
  int64_t position;
};

// Rows this many groups ahead are announced to the sink's prefetch().
constexpr int64_t kRowPrefetchDistance = 4;

}  // namespace

BackwardPlan::BackwardPlan(std::span<const GradientSource> sources,
                           int64_t num_rows, bool scale_grad_by_freq) {
  // Count each bag's non-padding entries, then give every bag its slice of
  // one entry array, so the entries can be written in parallel.
  std::vector<std::vector<int64_t>> bag_entries(sources.size());
  std::vector<std::vector<int64_t>> bag_start(sources.size());
  int64_t total = 0;
  for (std::size_t s = 0; s < sources.size(); ++s) {
    const PooledBatch& batch = sources[s].batch;
    std::vector<int64_t>& counts = bag_entries[s];
    counts.assign(batch.num_bags(), 0);
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < batch.num_bags(); ++b)
      for (int64_t p = batch.bounds[b]; p < batch.bounds[b + 1]; ++p)
        counts[b] += batch.indices[p] != batch.padding_idx;
    bag_start[s].resize(batch.num_bags());
    for (int64_t b = 0; b < batch.num_bags(); ++b) {
      bag_start[s][b] = total;
      total += counts[b];
    }
  }
  std::vector<Entry> entries(total);
  std::vector<int64_t> entry_rows(total);
  for (std::size_t s = 0; s < sources.size(); ++s) {
    const PooledBatch& batch = sources[s].batch;
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < batch.num_bags(); ++b) {
      int64_t e = bag_start[s][b];
      for (int64_t p = batch.bounds[b]; p < batch.bounds[b + 1]; ++p) {
        if (batch.indices[p] == batch.padding_idx) continue;
        entries[e] = {static_cast<uint32_t>(s), b, p};
        entry_rows[e++] = batch.indices[p];
      }
    }
  }

  RowGroups groups = group_by_row(entry_rows, num_rows, kNoPadding);
  rows_ = std::move(groups.rows);
  group_begin_ = std::move(groups.group_begin);
  contributions_.resize(total);
  const auto num_groups = static_cast<int64_t>(rows_.size());
#pragma omp parallel for schedule(static)
  for (int64_t g = 0; g < num_groups; ++g) {
    const int64_t frequency =
        scale_grad_by_freq ? group_begin_[g + 1] - group_begin_[g] : 1;
    for (int64_t i = group_begin_[g]; i < group_begin_[g + 1]; ++i) {
      const Entry& entry = entries[groups.positions[i]];
      const GradientSource& source = sources[entry.source];
      const int64_t offset = entry.bag * source.stride;
      contributions_[i] = {
          source.grad_output + offset,
          source.max_positions ? source.max_positions + offset : nullptr,
          entry.position,
          occurrence_scale(source.batch, entry.position,
                           bag_entries[entry.source][entry.bag], frequency)};
    }
  }
}

void for_each_row_gradient(const BackwardPlan& plan, int64_t dim,
                           RowGradientSink& sink) {
  const auto num_groups = static_cast<int64_t>(plan.rows_.size());
  const auto num_contributions = static_cast<int64_t>(plan.contributions_.size());
  const std::size_t row_bytes = static_cast<std::size_t>(dim) * sizeof(float);
#pragma omp parallel
  {
    std::vector<float> gradient(dim);
#pragma omp for schedule(dynamic, 64)
    for (int64_t g = 0; g < num_groups; ++g) {
      if (g + kRowPrefetchDistance < num_groups)
        sink.prefetch(plan.rows_[g + kRowPrefetchDistance]);
      std::fill(gradient.begin(), gradient.end(), 0.0f);
      for (int64_t i = plan.group_begin_[g]; i < plan.group_begin_[g + 1]; ++i) {
        if (i + kPrefetchDistance < num_contributions)
          prefetch_row(plan.contributions_[i + kPrefetchDistance].upstream, row_bytes);
        const BackwardPlan::Contribution& c = plan.contributions_[i];
        if (c.winners != nullptr) {
          for (int64_t d = 0; d < dim; ++d)
            if (c.winners[d] == c.position)
              gradient[d] = std::fma(c.scale, c.upstream[d], gradient[d]);
        } else {
#pragma omp simd
          for (int64_t d = 0; d < dim; ++d)
            gradient[d] = std::fma(c.scale, c.upstream[d], gradient[d]);
        }
      }
      sink.consume(g, plan.rows_[g], gradient);
    }
  }
}

}  // namespace rowshard::cpu
