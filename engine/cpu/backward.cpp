#include "engine/cpu/backward.h"

#include <omp.h>

#include <algorithm>
#include <bit>
#include <limits>
#include <utility>

#include "engine/cpu/kernel_table.h"
#include "engine/cpu/prefetch.h"
#include "rowshard/engine/error.h"

namespace rowshard::cpu {
namespace {

// A chunk's summed gradients should fit in L2 next to the rows being
// updated; a quarter of a MiB leaves room on every core we target.
constexpr int64_t kChunkGradientBytes = int64_t{256} << 10;
// Enough chunks to spread a table's rows; each thread counts every one.
constexpr int kMaxChunkBits = 18;

int chunk_shift_for(int64_t num_rows, int64_t dim) {
  const auto rows_fitting = static_cast<uint64_t>(
      std::max<int64_t>(64, kChunkGradientBytes / (dim * int64_t{sizeof(float)})));
  int shift = std::bit_width(rows_fitting) - 1;
  const int row_bits = num_rows <= 1 ? 0 : std::bit_width(static_cast<uint64_t>(num_rows - 1));
  shift = std::max(shift, row_bits - kMaxChunkBits);
  ROWSHARD_ASSERT(shift < 32);  // a row's offset in its chunk fits 32 bits
  return shift;
}

constexpr int64_t kEntriesPerLine = 64 / sizeof(BackwardPlan::ChunkEntry);

bool needs_positions(const GradientSource& source) {
  return source.batch.mode == PoolingMode::max || !source.batch.per_sample_weights.empty();
}

}  // namespace

void BackwardPlan::build(std::span<const GradientSource> sources, int64_t num_rows, int64_t dim,
                         bool scale_grad_by_freq) {
  sources_ = sources;
  num_rows_ = num_rows;
  dim_ = dim;
  scale_grad_by_freq_ = scale_grad_by_freq;
  chunk_shift_ = chunk_shift_for(num_rows, dim);
  bag_offset_.assign(sources.size() + 1, 0);
  int64_t total_lookups = 0;
  needs_positions_ = false;
  for (std::size_t s = 0; s < sources.size(); ++s) {
    const PooledBatch& batch = sources[s].batch;
    total_lookups += static_cast<int64_t>(batch.indices.size());
    bag_offset_[s + 1] = bag_offset_[s] + batch.num_bags();
    needs_positions_ = needs_positions_ || needs_positions(sources[s]);
  }
  // Entries, bags and positions are numbered in 32 bits.
  ROWSHARD_ASSERT(total_lookups < std::numeric_limits<uint32_t>::max());
  ROWSHARD_ASSERT(bag_offset_.back() < std::numeric_limits<uint32_t>::max());
  bucket_by_chunk();
}

// A stable counting sort by chunk, in parallel: each thread counts, then
// scatters, one contiguous run of bags. Thread t's entries of chunk c land
// after every earlier chunk's and after threads < t's of chunk c, which is
// exactly the sequential order, so the result does not depend on the
// number of threads.
void BackwardPlan::bucket_by_chunk() {
  const int64_t total_bags = bag_offset_.back();
  const int64_t chunks = num_rows_ == 0 ? 0 : ((num_rows_ - 1) >> chunk_shift_) + 1;
  const uint32_t offset_mask = static_cast<uint32_t>(rows_per_chunk() - 1);
  chunk_entry_begin_.assign(chunks + 1, 0);
  int64_t* bag_entries = bag_entries_.reserve(total_bags);
  std::vector<int64_t> cursors;  // [thread][chunk]: a count, then a cursor
  ChunkEntry* entries = nullptr;
  int64_t total_entries = 0;
  uint32_t* positions = nullptr;

  // Source s's own bag numbers [first, end) among bags [first_bag, end_bag).
  auto bags_of_source = [&](std::size_t s, int64_t first_bag, int64_t end_bag) {
    return std::pair{std::max(first_bag, bag_offset_[s]) - bag_offset_[s],
                     std::min(end_bag, bag_offset_[s + 1]) - bag_offset_[s]};
  };
  // Calls visit(bag, position, row) for each non-padding entry of this
  // thread's bags, in order; `bag` numbers the bags across sources. The
  // batch's fields are read into locals first: the visitors store int64
  // counts and 32-bit entries, which the compiler must otherwise assume
  // alias them, and it reloaded them for every entry.
  auto for_each_entry = [&](int64_t first_bag, int64_t end_bag, auto&& visit) {
    for (std::size_t s = 0; s < sources_.size(); ++s) {
      const PooledBatch& batch = sources_[s].batch;
      const int64_t* const indices = batch.indices.data();
      const int64_t* const bounds = batch.bounds.data();
      const int64_t padding = batch.padding_idx;
      const int64_t first_bag_of_source = bag_offset_[s];
      const auto [first, end] = bags_of_source(s, first_bag, end_bag);
      for (int64_t b = first; b < end; ++b) {
        const int64_t bag_end = bounds[b + 1];
        for (int64_t p = bounds[b]; p < bag_end; ++p) {
          const int64_t row = indices[p];
          if (row != padding) visit(first_bag_of_source + b, p, row);
        }
      }
    }
  };
  const int shift = chunk_shift_;  // likewise: a member, reloaded after each store
#pragma omp parallel
  {
    const int threads = omp_get_num_threads();
    const int t = omp_get_thread_num();
#pragma omp single
    cursors.assign(static_cast<std::size_t>(threads) * chunks, 0);
    const int64_t first_bag = total_bags * t / threads;
    const int64_t end_bag = total_bags * (t + 1) / threads;
    int64_t* mine = cursors.data() + static_cast<std::size_t>(t) * chunks;
    for_each_entry(first_bag, end_bag,
                   [&](int64_t, int64_t, int64_t row) { ++mine[row >> shift]; });
    for (std::size_t s = 0; s < sources_.size(); ++s) {
      const GradientSource& source = sources_[s];
      if (source.batch.mode != PoolingMode::mean) continue;
      const auto [first, end] = bags_of_source(s, first_bag, end_bag);
      for (int64_t b = first; b < end; ++b) {
        int64_t& count = bag_entries[bag_offset_[s] + b];
        if (source.entries_per_bag != nullptr) {
          count = source.entries_per_bag[b];
          continue;
        }
        count = 0;
        for (int64_t p = source.batch.bounds[b]; p < source.batch.bounds[b + 1]; ++p)
          count += source.batch.indices[p] != source.batch.padding_idx;
      }
    }
#pragma omp barrier
#pragma omp single
    {
      int64_t start = 0;
      for (int64_t c = 0; c < chunks; ++c) {
        chunk_entry_begin_[c] = start;
        for (int u = 0; u < threads; ++u) {
          int64_t& cell = cursors[static_cast<std::size_t>(u) * chunks + c];
          const int64_t count = cell;
          cell = start;
          start += count;
        }
      }
      chunk_entry_begin_[chunks] = start;
      total_entries = start;
      entries = entries_.reserve(start);
      positions = needs_positions_ ? entry_positions_.reserve(start) : nullptr;
    }
    // Thread-local copies of what the single thread set, and of the mask:
    // shared variables are reached through memory the stores below might
    // alias.
    ChunkEntry* const out = entries;
    uint32_t* const out_positions = positions;
    const int64_t entry_count = total_entries;
    const uint32_t row_in_chunk = offset_mask;
    for_each_entry(first_bag, end_bag, [&](int64_t bag, int64_t p, int64_t row) {
      const int64_t at = mine[row >> shift]++;
      // Thousands of chunks are written at once, so each store would wait
      // for its line; asking for a chunk's next line as it starts a line
      // took a quarter off this pass (4M rows, uniform ids).
      if (at % kEntriesPerLine == 0 && at + kEntriesPerLine < entry_count)
        prefetch_for_write(out + at + kEntriesPerLine);
      out[at] = {static_cast<uint32_t>(bag), static_cast<uint32_t>(row) & row_in_chunk};
      if (out_positions != nullptr) out_positions[at] = static_cast<uint32_t>(p);
    });
  }
}

namespace {

// A chunk's rows, one bit each: which of them the chunk's entries touch.
class ChunkRowSet {
 public:
  explicit ChunkRowSet(int64_t rows_per_chunk)
      : words_(static_cast<std::size_t>(std::max<int64_t>(1, rows_per_chunk / 64))) {}

  void clear() { std::fill(words_.begin(), words_.end(), 0); }
  void insert(uint32_t offset) { words_[offset >> 6] |= uint64_t{1} << (offset & 63); }
  bool contains(uint32_t offset) const { return (words_[offset >> 6] >> (offset & 63)) & 1; }

  // Appends first_row + offset for each offset in the set, ascending.
  void append_rows(int64_t first_row, std::vector<int64_t>& rows) const {
    for (std::size_t w = 0; w < words_.size(); ++w)
      for (uint64_t bits = words_[w]; bits != 0; bits &= bits - 1)
        rows.push_back(first_row + static_cast<int64_t>(w) * 64 + std::countr_zero(bits));
  }

 private:
  std::vector<uint64_t> words_;
};

}  // namespace

std::vector<int64_t> BackwardPlan::touched_rows() const {
  const int64_t chunks = num_chunks();
  std::vector<std::vector<int64_t>> rows_of_chunk(static_cast<std::size_t>(chunks));
#pragma omp parallel
  {
    ChunkRowSet touched(rows_per_chunk());
#pragma omp for schedule(dynamic, 16)
    for (int64_t c = 0; c < chunks; ++c) {
      touched.clear();
      for (const ChunkEntry& entry : chunk_entries(c)) touched.insert(entry.offset);
      touched.append_rows(c << chunk_shift_, rows_of_chunk[c]);
    }
  }
  std::vector<int64_t> rows;
  for (const std::vector<int64_t>& chunk_rows : rows_of_chunk)
    rows.insert(rows.end(), chunk_rows.begin(), chunk_rows.end());
  return rows;
}

namespace {

// A run of one chunk's entries that all come from one source.
struct EntryRun {
  const GradientSource* source;
  int64_t first_bag;  // the source's bag 0 in the plan's numbering
  const BackwardPlan::ChunkEntry* entries;
  const uint32_t* positions;  // nullptr unless the plan keeps positions
  int64_t count;

  const float* upstream(int64_t i) const {
    return source->grad_output + (entries[i].bag - first_bag) * source->stride;
  }
};

// A chunk's gradient sums are not zeroed between chunks (that was a memset
// of the whole buffer per chunk, ~8% of a training step): a row's first
// entry adds to a row of zeros instead of its stale slot.
class ChunkSums {
 public:
  ChunkSums(int64_t rows_per_chunk, int64_t dim)
      : sums_(static_cast<std::size_t>(rows_per_chunk * dim)),
        zeros_(static_cast<std::size_t>(dim), 0.0f),
        touched_(rows_per_chunk),
        dim_(dim) {}

  void start_chunk() { touched_.clear(); }
  // Where row `offset`'s running sum is to be read from, marking it touched.
  const float* running_sum(uint32_t offset) {
    const float* running = touched_.contains(offset) ? sum(offset) : zeros_.data();
    touched_.insert(offset);
    return running;
  }
  float* sum(uint32_t offset) { return sums_.data() + offset * dim_; }
  const float* data() const { return sums_.data(); }
  const ChunkRowSet& touched() const { return touched_; }

 private:
  std::vector<float> sums_;
  std::vector<float> zeros_;
  ChunkRowSet touched_;
  int64_t dim_;
};

// Sum pooling without weights or frequency scaling: every factor is exactly
// 1, and fma(1, g, a) rounds as a + g does, so the entries are plainly added.
// kDim > 0 fixes the dim at compile time for the common sizes.
template <int64_t kDim>
void add_upstream(const EntryRun& run, ChunkSums& sums, int64_t runtime_dim) {
  const int64_t dim = kDim > 0 ? kDim : runtime_dim;
  const std::size_t row_bytes = static_cast<std::size_t>(dim) * sizeof(float);
  for (int64_t i = 0; i < run.count; ++i) {
    prefetch_entries_ahead(i, run.count, row_bytes,
                           [&](int64_t ahead) { return run.upstream(ahead); });
    const float* upstream = run.upstream(i);
    const float* running = sums.running_sum(run.entries[i].offset);
    float* sum = sums.sum(run.entries[i].offset);
#pragma omp simd
    for (int64_t d = 0; d < dim; ++d) sum[d] = running[d] + upstream[d];
  }
}

// Every other case: each entry's factor (mean's count, per-sample weight,
// 1 / frequency) is worked out as PyTorch does and fma-accumulated; in max
// mode only into the columns the entry's position won.
void add_scaled_upstream(const EntryRun& run, ChunkSums& sums, int64_t dim,
                         const int64_t* bag_entries, const uint32_t* frequency) {
  const std::size_t row_bytes = static_cast<std::size_t>(dim) * sizeof(float);
  const PooledBatch& batch = run.source->batch;
  // The fused multiply-adds at the CPU's level: built for the baseline here,
  // std::fma would be a library call per column.
  const Kernels& kernels = cpu::kernels();
  for (int64_t i = 0; i < run.count; ++i) {
    prefetch_entries_ahead(i, run.count, row_bytes,
                           [&](int64_t ahead) { return run.upstream(ahead); });
    const float* upstream = run.upstream(i);
    const BackwardPlan::ChunkEntry entry = run.entries[i];
    const float* running = sums.running_sum(entry.offset);
    float* sum = sums.sum(entry.offset);
    const int64_t position = run.positions != nullptr ? run.positions[i] : -1;
    const float scale = occurrence_scale(
        batch, position, batch.mode == PoolingMode::mean ? bag_entries[entry.bag] : 1,
        frequency != nullptr ? frequency[entry.offset] : 1);
    if (batch.mode == PoolingMode::max) {
      const int64_t* winners =
          run.source->max_positions + (entry.bag - run.first_bag) * run.source->stride;
      kernels.add_scaled_winners(scale, upstream, running, sum, winners, position, dim);
    } else {
      kernels.add_scaled_row(scale, upstream, running, sum, dim);
    }
  }
}

void add_run(const EntryRun& run, ChunkSums& sums, int64_t dim, const int64_t* bag_entries,
             const uint32_t* frequency) {
  const PooledBatch& batch = run.source->batch;
  if (frequency != nullptr || batch.mode != PoolingMode::sum || !batch.per_sample_weights.empty()) {
    add_scaled_upstream(run, sums, dim, bag_entries, frequency);
    return;
  }
  switch (dim) {
    case 32: add_upstream<32>(run, sums, dim); return;
    case 64: add_upstream<64>(run, sums, dim); return;
    case 128: add_upstream<128>(run, sums, dim); return;
    default: add_upstream<0>(run, sums, dim); return;
  }
}

// Source s's bags in a chunk's entries, which are in source order and
// number their bags ascending across sources: each source's run ends where
// the next source's bags begin. Calls visit(s, run) for each non-empty run.
template <typename Visit>
void for_each_source_run(std::span<const BackwardPlan::ChunkEntry> entries,
                         std::span<const int64_t> bag_offset, Visit&& visit) {
  for (std::size_t i = 0, s = 0; i < entries.size(); ++s) {
    const std::size_t run_end =
        std::partition_point(entries.begin() + i, entries.end(),
                             [&](const auto& entry) { return entry.bag < bag_offset[s + 1]; }) -
        entries.begin();
    if (run_end == i) continue;
    visit(s, i, run_end);
    i = run_end;
  }
}

// One thread's grouping of a chunk's entries by row: a counting sort by the
// entries' offsets in the chunk, stable, so each row keeps its entries in
// source, then position order.
class ChunkGrouping {
 public:
  explicit ChunkGrouping(int64_t rows_per_chunk)
      : cursor_(static_cast<std::size_t>(rows_per_chunk), 0), touched_(rows_per_chunk) {}

  // Groups `entries` of the chunk whose first row is first_row; the bags'
  // upstream rows are found through `sources` and `bag_offset`.
  void group(std::span<const BackwardPlan::ChunkEntry> entries, int64_t first_row,
             std::span<const GradientSource> sources, std::span<const int64_t> bag_offset) {
    count_rows(entries);
    list_rows(first_row);
    upstream_.resize(entries.size());
    for_each_source_run(entries, bag_offset,
                        [&](std::size_t s, std::size_t begin, std::size_t end) {
                          const float* const grad_output = sources[s].grad_output;
                          const int64_t stride = sources[s].stride;
                          const int64_t first_bag = bag_offset[s];
                          for (std::size_t i = begin; i < end; ++i)
                            upstream_[cursor_[entries[i].offset]++] =
                                grad_output + (entries[i].bag - first_bag) * stride;
                        });
    for (const int64_t row : rows_) cursor_[row - first_row] = 0;
  }

  RowUpstreamBlock block(int64_t dim) const { return {rows_, sum_end_, upstream_, dim}; }

 private:
  void count_rows(std::span<const BackwardPlan::ChunkEntry> entries) {
    touched_.clear();
    for (const BackwardPlan::ChunkEntry& entry : entries) {
      ++cursor_[entry.offset];
      touched_.insert(entry.offset);
    }
  }

  // The touched rows, ascending, and where each one's upstream rows end;
  // each row's count becomes the cursor where its first upstream row goes.
  void list_rows(int64_t first_row) {
    rows_.clear();
    touched_.append_rows(first_row, rows_);
    sum_end_.resize(rows_.size());
    uint32_t end = 0;
    for (std::size_t i = 0; i < rows_.size(); ++i) {
      uint32_t& cursor = cursor_[rows_[i] - first_row];
      const uint32_t count = cursor;
      cursor = end;
      end += count;
      sum_end_[i] = end;
    }
  }

  std::vector<uint32_t> cursor_;  // per row of the chunk; all 0 between chunks
  ChunkRowSet touched_;
  std::vector<int64_t> rows_;
  std::vector<uint32_t> sum_end_;
  std::vector<const float*> upstream_;
};

}  // namespace

bool BackwardPlan::plain_sums() const {
  if (scale_grad_by_freq_) return false;
  return std::all_of(sources_.begin(), sources_.end(), [](const GradientSource& source) {
    return source.batch.mode == PoolingMode::sum && source.batch.per_sample_weights.empty();
  });
}

void for_each_row_upstream(const BackwardPlan& plan, RowUpstreamSink& sink) {
  ROWSHARD_ASSERT(plan.plain_sums());
  const int64_t chunks = plan.num_chunks();
#pragma omp parallel
  {
    ChunkGrouping grouping(plan.rows_per_chunk());
#pragma omp for schedule(dynamic, 4)
    for (int64_t c = 0; c < chunks; ++c) {
      const std::span<const BackwardPlan::ChunkEntry> entries = plan.chunk_entries(c);
      if (entries.empty()) continue;
      grouping.group(entries, c << plan.chunk_shift_, plan.sources_, plan.bag_offset_);
      sink.consume(grouping.block(plan.dim_));
    }
  }
}

void for_each_row_gradient(const BackwardPlan& plan, RowGradientSink& sink) {
  const int64_t dim = plan.dim_;
  const int64_t chunks = plan.num_chunks();
  // A previous build's positions may still be in the buffer: only read
  // them when this build wrote them.
  const uint32_t* positions = plan.needs_positions_ ? plan.entry_positions_.data() : nullptr;
  const std::span<const int64_t> bag_offset = plan.bag_offset_;
#pragma omp parallel
  {
    ChunkSums sums(plan.rows_per_chunk(), dim);
    std::vector<uint32_t> frequency(plan.scale_grad_by_freq_ ? plan.rows_per_chunk() : 0);
    std::vector<int64_t> rows;
    rows.reserve(plan.rows_per_chunk());
#pragma omp for schedule(dynamic, 4)
    for (int64_t c = 0; c < chunks; ++c) {
      const std::span<const BackwardPlan::ChunkEntry> entries = plan.chunk_entries(c);
      if (entries.empty()) continue;
      if (plan.scale_grad_by_freq_) {
        for (const auto& entry : entries) frequency[entry.offset] = 0;
        for (const auto& entry : entries) ++frequency[entry.offset];
      }
      sums.start_chunk();
      const int64_t first = plan.chunk_entry_begin_[c];
      for_each_source_run(
          entries, bag_offset, [&](std::size_t s, std::size_t i, std::size_t run_end) {
            const EntryRun run{&plan.sources_[s], bag_offset[s], entries.data() + i,
                               positions != nullptr ? positions + first + i : nullptr,
                               static_cast<int64_t>(run_end - i)};
            add_run(run, sums, dim, plan.bag_entries_.data(),
                    plan.scale_grad_by_freq_ ? frequency.data() : nullptr);
          });
      const int64_t chunk_row = c << plan.chunk_shift_;
      rows.clear();
      sums.touched().append_rows(chunk_row, rows);
      sink.consume({rows, sums.data(), chunk_row, dim});
    }
  }
}

}  // namespace rowshard::cpu
