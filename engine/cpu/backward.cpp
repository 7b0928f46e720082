#include "engine/cpu/backward.h"

#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "engine/cpu/prefetch.h"
#include "engine/error.h"

namespace rowshard::cpu {
namespace {

// Rows this many groups ahead are announced to the sink's prefetch().
constexpr int64_t kRowPrefetchDistance = 8;

// A chunk's summed gradients should fit in L2 next to the rows being
// updated; a quarter of a MiB leaves room on every core we target.
constexpr int64_t kChunkGradientBytes = int64_t{256} << 10;
// Enough chunks to spread a table's rows; a per-thread count for each.
constexpr int kMaxChunkBits = 18;

int chunk_shift_for(int64_t num_rows, int64_t dim) {
  const auto rows_fitting = static_cast<uint64_t>(
      std::max<int64_t>(64, kChunkGradientBytes / (dim * int64_t{sizeof(float)})));
  int shift = std::bit_width(rows_fitting) - 1;
  const int row_bits =
      num_rows <= 1 ? 0 : std::bit_width(static_cast<uint64_t>(num_rows - 1));
  shift = std::max(shift, row_bits - kMaxChunkBits);
  ROWSHARD_ASSERT(shift < 31);  // a row's offset in its chunk fits a slot
  return shift;
}

// Calls visit(source, bag, position, row) for every non-padding entry of
// the bags numbered [first_bag, end_bag) when all sources' bags are counted
// one after another, in that order.
template <typename Visit>
void for_each_entry(std::span<const GradientSource> sources,
                    std::span<const int64_t> bag_offset, int64_t first_bag,
                    int64_t end_bag, Visit&& visit) {
  for (std::size_t s = 0; s < sources.size(); ++s) {
    const PooledBatch& batch = sources[s].batch;
    const int64_t first = std::max(first_bag, bag_offset[s]) - bag_offset[s];
    const int64_t end = std::min(end_bag, bag_offset[s + 1]) - bag_offset[s];
    for (int64_t b = first; b < end; ++b)
      for (int64_t p = batch.bounds[b]; p < batch.bounds[b + 1]; ++p)
        if (batch.indices[p] != batch.padding_idx)
          visit(static_cast<uint32_t>(s), b, p, batch.indices[p]);
  }
}

}  // namespace

BackwardPlan::BackwardPlan(std::span<const GradientSource> sources,
                           int64_t num_rows, int64_t dim,
                           bool scale_grad_by_freq)
    : sources_(sources),
      dim_(dim),
      scale_grad_by_freq_(scale_grad_by_freq),
      chunk_shift_(chunk_shift_for(num_rows, dim)),
      bag_entries_(sources.size()) {
  bucket_by_chunk(num_rows);
  number_groups();
}

// A stable counting sort by chunk, in parallel: each thread counts, then
// scatters, one contiguous run of bags. Thread t's entries of chunk c land
// after every earlier chunk's and after threads < t's of chunk c, which is
// exactly the sequential order, so the result does not depend on the
// number of threads.
void BackwardPlan::bucket_by_chunk(int64_t num_rows) {
  std::vector<int64_t> bag_offset(sources_.size() + 1, 0);
  int64_t total_lookups = 0;
  for (std::size_t s = 0; s < sources_.size(); ++s) {
    const PooledBatch& batch = sources_[s].batch;
    total_lookups += static_cast<int64_t>(batch.indices.size());
    // Entries, bags and positions are counted in 32 bits.
    ROWSHARD_ASSERT(total_lookups < std::numeric_limits<uint32_t>::max());
    ROWSHARD_ASSERT(batch.num_bags() < std::numeric_limits<uint32_t>::max());
    bag_offset[s + 1] = bag_offset[s] + batch.num_bags();
    if (batch.mode == PoolingMode::mean) {
      if (sources_[s].entries_per_bag != nullptr)
        bag_entries_[s].assign(sources_[s].entries_per_bag,
                               sources_[s].entries_per_bag + batch.num_bags());
      else
        bag_entries_[s].assign(batch.num_bags(), 0);
    }
  }
  const int64_t total_bags = bag_offset.back();
  const int64_t num_chunks = num_rows == 0 ? 0 : ((num_rows - 1) >> chunk_shift_) + 1;
  const uint32_t offset_mask = (uint32_t{1} << chunk_shift_) - 1;
  chunk_entry_begin_.assign(num_chunks + 1, 0);
  std::vector<uint32_t> slots;  // [thread][chunk]: a count, then a cursor
#pragma omp parallel
  {
    const int threads = omp_get_num_threads();
    const int t = omp_get_thread_num();
#pragma omp single
    slots.assign(static_cast<std::size_t>(threads) * num_chunks, 0);
    const int64_t first_bag = total_bags * t / threads;
    const int64_t end_bag = total_bags * (t + 1) / threads;
    uint32_t* mine = slots.data() + static_cast<std::size_t>(t) * num_chunks;
    for_each_entry(sources_, bag_offset, first_bag, end_bag,
                   [&](uint32_t s, int64_t b, int64_t, int64_t row) {
                     ++mine[row >> chunk_shift_];
                     if (sources_[s].batch.mode == PoolingMode::mean &&
                         sources_[s].entries_per_bag == nullptr)
                       ++bag_entries_[s][b];
                   });
#pragma omp barrier
#pragma omp single
    {
      uint32_t start = 0;
      for (int64_t c = 0; c < num_chunks; ++c) {
        chunk_entry_begin_[c] = start;
        for (int u = 0; u < threads; ++u) {
          uint32_t& cell = slots[static_cast<std::size_t>(u) * num_chunks + c];
          const uint32_t count = cell;
          cell = start;
          start += count;
        }
      }
      chunk_entry_begin_[num_chunks] = start;
      entries_.resize(start);
    }
    for_each_entry(sources_, bag_offset, first_bag, end_bag,
                   [&](uint32_t s, int64_t b, int64_t p, int64_t row) {
                     entries_[mine[row >> chunk_shift_]++] = {
                         static_cast<uint32_t>(row) & offset_mask, s,
                         static_cast<uint32_t>(b), static_cast<uint32_t>(p)};
                   });
  }
}

// Per chunk: marks the rows its entries touch in a bitmap, numbers the
// marked rows in ascending order (a group each), and rewrites every entry's
// slot from its row's offset to its group's. Group numbers are then made
// global by a prefix sum over the chunks.
void BackwardPlan::number_groups() {
  const auto num_chunks = static_cast<int64_t>(chunk_entry_begin_.size()) - 1;
  const int64_t words_per_chunk = std::max<int64_t>(1, (int64_t{1} << chunk_shift_) / 64);
  std::vector<int64_t> chunk_groups(std::max<int64_t>(num_chunks, 0));
  // Chunk c's row offsets (and frequencies) per group, at the chunk's first
  // entry: a chunk has no more groups than entries.
  std::vector<uint32_t> group_offsets(entries_.size());
  std::vector<uint32_t> group_sizes(scale_grad_by_freq_ ? entries_.size() : 0);
#pragma omp parallel
  {
    std::vector<uint64_t> marked(words_per_chunk), seen(words_per_chunk);
    std::vector<uint32_t> groups_before(words_per_chunk);
#pragma omp for schedule(dynamic, 16)
    for (int64_t c = 0; c < num_chunks; ++c) {
      const int64_t first = chunk_entry_begin_[c];
      const int64_t end = chunk_entry_begin_[c + 1];
      if (first == end) continue;
      std::fill(marked.begin(), marked.end(), 0);
      std::fill(seen.begin(), seen.end(), 0);
      for (int64_t i = first; i < end; ++i)
        marked[entries_[i].slot >> 6] |= uint64_t{1} << (entries_[i].slot & 63);
      uint32_t groups = 0;
      for (int64_t w = 0; w < words_per_chunk; ++w) {
        groups_before[w] = groups;
        for (uint64_t bits = marked[w]; bits != 0; bits &= bits - 1)
          group_offsets[first + groups++] =
              static_cast<uint32_t>(w * 64 + std::countr_zero(bits));
      }
      chunk_groups[c] = groups;
      if (scale_grad_by_freq_)
        std::fill_n(group_sizes.begin() + first, groups, 0u);
      for (int64_t i = first; i < end; ++i) {
        const uint32_t offset = entries_[i].slot;
        const uint64_t bit = uint64_t{1} << (offset & 63);
        const uint32_t group =
            groups_before[offset >> 6] +
            static_cast<uint32_t>(std::popcount(marked[offset >> 6] & (bit - 1)));
        const bool first_of_group = (seen[offset >> 6] & bit) == 0;
        seen[offset >> 6] |= bit;
        entries_[i].slot = group | (first_of_group ? kFirstOfGroup : 0);
        if (scale_grad_by_freq_) ++group_sizes[first + group];
      }
    }
  }
  chunk_group_begin_.assign(num_chunks + 1, 0);
  for (int64_t c = 0; c < num_chunks; ++c)
    chunk_group_begin_[c + 1] = chunk_group_begin_[c] + chunk_groups[c];
  rows_.resize(chunk_group_begin_.back());
  frequency_.resize(scale_grad_by_freq_ ? rows_.size() : 0);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < num_chunks; ++c) {
    const int64_t first = chunk_entry_begin_[c];
    const int64_t first_group = chunk_group_begin_[c];
    for (int64_t g = 0; g < chunk_groups[c]; ++g) {
      rows_[first_group + g] = (c << chunk_shift_) + group_offsets[first + g];
      if (scale_grad_by_freq_) frequency_[first_group + g] = group_sizes[first + g];
    }
  }
}

void for_each_row_gradient(const BackwardPlan& plan, RowGradientSink& sink) {
  using Entry = BackwardPlan::Entry;
  const int64_t dim = plan.dim_;
  const auto num_chunks = static_cast<int64_t>(plan.chunk_group_begin_.size()) - 1;
  const auto num_entries = static_cast<int64_t>(plan.entries_.size());
  const auto num_groups = static_cast<int64_t>(plan.rows_.size());
  const std::size_t row_bytes = static_cast<std::size_t>(dim) * sizeof(float);
  int64_t max_chunk_groups = 0;
  for (int64_t c = 0; c < num_chunks; ++c)
    max_chunk_groups = std::max(max_chunk_groups, plan.chunk_group_begin_[c + 1] -
                                                      plan.chunk_group_begin_[c]);
  auto upstream_of = [&](const Entry& entry) {
    const GradientSource& source = plan.sources_[entry.source];
    return source.grad_output + entry.bag * source.stride;
  };
#pragma omp parallel
  {
    std::vector<float> sums(max_chunk_groups * dim);
#pragma omp for schedule(dynamic, 4)
    for (int64_t c = 0; c < num_chunks; ++c) {
      const int64_t first_group = plan.chunk_group_begin_[c];
      for (int64_t i = plan.chunk_entry_begin_[c]; i < plan.chunk_entry_begin_[c + 1]; ++i) {
        if (i + kPrefetchDistance < num_entries)
          prefetch_row(upstream_of(plan.entries_[i + kPrefetchDistance]), row_bytes);
        const Entry& entry = plan.entries_[i];
        const uint32_t group = entry.slot & ~BackwardPlan::kFirstOfGroup;
        float* sum = sums.data() + group * dim;
        if (entry.slot & BackwardPlan::kFirstOfGroup) std::fill_n(sum, dim, 0.0f);
        const GradientSource& source = plan.sources_[entry.source];
        const PooledBatch& batch = source.batch;
        const float* upstream = upstream_of(entry);
        // Plain sums scale by exactly 1, and fma(1, g, a) rounds as a + g
        // does: skip working the factor out (two double divisions).
        if (!plan.scale_grad_by_freq_ && batch.mode == PoolingMode::sum &&
            batch.per_sample_weights.empty()) {
#pragma omp simd
          for (int64_t d = 0; d < dim; ++d) sum[d] += upstream[d];
          continue;
        }
        const int64_t frequency =
            plan.scale_grad_by_freq_ ? plan.frequency_[first_group + group] : 1;
        const int64_t entries =
            batch.mode == PoolingMode::mean ? plan.bag_entries_[entry.source][entry.bag] : 1;
        const float scale = occurrence_scale(batch, entry.position, entries, frequency);
        if (batch.mode == PoolingMode::max) {
          const int64_t* winners = source.max_positions + entry.bag * source.stride;
          for (int64_t d = 0; d < dim; ++d)
            if (winners[d] == entry.position) sum[d] = std::fma(scale, upstream[d], sum[d]);
        } else {
#pragma omp simd
          for (int64_t d = 0; d < dim; ++d) sum[d] = std::fma(scale, upstream[d], sum[d]);
        }
      }
      const int64_t end_group = plan.chunk_group_begin_[c + 1];
      for (int64_t g = first_group; g < end_group; ++g) {
        if (g + kRowPrefetchDistance < num_groups)
          sink.prefetch(plan.rows_[g + kRowPrefetchDistance]);
        sink.consume(g, plan.rows_[g],
                     {sums.data() + (g - first_group) * dim, static_cast<std::size_t>(dim)});
      }
    }
  }
}

}  // namespace rowshard::cpu
