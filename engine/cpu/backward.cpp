#include "engine/cpu/backward.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/cpu/prefetch.h"
#include "engine/error.h"

namespace rowshard::cpu {
namespace {

// Rows this many groups ahead are announced to the sink's prefetch().
constexpr int64_t kRowPrefetchDistance = 8;

}  // namespace

BackwardPlan::BackwardPlan(std::span<const GradientSource> sources,
                           int64_t num_rows, bool scale_grad_by_freq)
    : sources_(sources),
      bag_entries_(sources.size()),
      scale_grad_by_freq_(scale_grad_by_freq) {
  // Count each bag's non-padding entries, then give every bag its slice of
  // one entry array, so the entries can be written in parallel.
  std::vector<std::vector<int64_t>> bag_start(sources.size());
  int64_t total = 0;
  for (std::size_t s = 0; s < sources.size(); ++s) {
    const PooledBatch& batch = sources[s].batch;
    ROWSHARD_ASSERT(batch.num_bags() < std::numeric_limits<uint32_t>::max());
    std::vector<int64_t>& counts = bag_entries_[s];
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
    if (sources[s].entries_per_bag != nullptr)
      counts.assign(sources[s].entries_per_bag,
                    sources[s].entries_per_bag + batch.num_bags());
  }
  std::vector<Entry> unsorted(total);
  RowGroups groups;
  {
    std::vector<int64_t> entry_rows(total);
    for (std::size_t s = 0; s < sources.size(); ++s) {
      const PooledBatch& batch = sources[s].batch;
#pragma omp parallel for schedule(static)
      for (int64_t b = 0; b < batch.num_bags(); ++b) {
        int64_t e = bag_start[s][b];
        for (int64_t p = batch.bounds[b]; p < batch.bounds[b + 1]; ++p) {
          if (batch.indices[p] == batch.padding_idx) continue;
          unsorted[e] = {static_cast<uint32_t>(s), static_cast<uint32_t>(b), p};
          entry_rows[e++] = batch.indices[p];
        }
      }
    }
    groups = group_by_row(entry_rows, num_rows);
  }
  rows_ = std::move(groups.rows);
  group_begin_ = std::move(groups.group_begin);
  // Entries in row order, so the gradient pass reads them front to back.
  entries_.resize(total);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < total; ++i) entries_[i] = unsorted[groups.order[i]];
}

void for_each_row_gradient(const BackwardPlan& plan, int64_t dim,
                           RowGradientSink& sink) {
  const auto num_groups = static_cast<int64_t>(plan.rows_.size());
  const auto num_entries = static_cast<int64_t>(plan.entries_.size());
  const std::size_t row_bytes = static_cast<std::size_t>(dim) * sizeof(float);
  auto upstream_of = [&](const BackwardPlan::Entry& entry) {
    const GradientSource& source = plan.sources_[entry.source];
    return source.grad_output + entry.bag * source.stride;
  };
#pragma omp parallel
  {
    std::vector<float> gradient(dim);
#pragma omp for schedule(dynamic, 64)
    for (int64_t g = 0; g < num_groups; ++g) {
      if (g + kRowPrefetchDistance < num_groups)
        sink.prefetch(plan.rows_[g + kRowPrefetchDistance]);
      std::fill(gradient.begin(), gradient.end(), 0.0f);
      const int64_t first = plan.group_begin_[g];
      const int64_t end = plan.group_begin_[g + 1];
      const int64_t frequency = plan.scale_grad_by_freq_ ? end - first : 1;
      for (int64_t i = first; i < end; ++i) {
        if (i + kPrefetchDistance < num_entries)
          prefetch_row(upstream_of(plan.entries_[i + kPrefetchDistance]), row_bytes);
        const BackwardPlan::Entry& entry = plan.entries_[i];
        const GradientSource& source = plan.sources_[entry.source];
        const float* upstream = upstream_of(entry);
        // Plain sums scale by exactly 1, and fma(1, g, a) rounds as a + g
        // does: skip working the factor out (two double divisions).
        if (frequency == 1 && source.batch.mode == PoolingMode::sum &&
            source.batch.per_sample_weights.empty()) {
#pragma omp simd
          for (int64_t d = 0; d < dim; ++d) gradient[d] += upstream[d];
          continue;
        }
        const float scale = occurrence_scale(
            source.batch, entry.position,
            plan.bag_entries_[entry.source][entry.bag], frequency);
        if (source.batch.mode == PoolingMode::max) {
          const int64_t* winners = source.max_positions + entry.bag * source.stride;
          for (int64_t d = 0; d < dim; ++d)
            if (winners[d] == entry.position)
              gradient[d] = std::fma(scale, upstream[d], gradient[d]);
        } else {
#pragma omp simd
          for (int64_t d = 0; d < dim; ++d)
            gradient[d] = std::fma(scale, upstream[d], gradient[d]);
        }
      }
      sink.consume(g, plan.rows_[g], gradient);
    }
  }
}

}  // namespace rowshard::cpu
