#include <algorithm>
#include <vector>

#include "engine/bag_layout.h"
#include "engine/cpu/level/fixed_dim_pooling.h"
#include "engine/cpu/level/level_kernels.h"
#include "engine/cpu/level/widen_vectors.h"
#include "engine/cpu/prefetch.h"
#include "rowshard/engine/element_types.h"

namespace rowshard::cpu::ROWSHARD_CPU_LEVEL_NS {
namespace {

// About this many lookups per unit of work: enough to amortise scheduling,
// few enough that the last units balance the threads.
constexpr int64_t kLookupsPerChunk = 2048;

// A thread's buffer for a widened row. A type of this level's own: a
// thread_local std::vector would emit std::vector's destructor out of line,
// a weak symbol that the linker may share with code built for another level.
struct WidenedRow {
  std::vector<float> values;
};

struct Chunk {
  const PoolingTask* task;
  int64_t first_bag;
  int64_t end_bag;
};

template <typename Element, PoolingMode mode, bool weighted>
void pool_bags(const PoolingTask& task, int64_t first_bag, int64_t end_bag) {
  const RowStorage& weights = *task.weights;
  const PooledBatch& batch = task.batch;
  const int64_t dim = weights.dim();
  const int64_t prefetch_end = batch.bounds[end_bag];
  const std::size_t row_bytes = static_cast<std::size_t>(dim) * sizeof(Element);
  // Reduced-precision rows are widened here first (see widen.h).
  thread_local WidenedRow widened;
  if constexpr (!std::is_same_v<Element, float>) widened.values.resize(dim);

  for (int64_t b = first_bag; b < end_bag; ++b) {
    float* __restrict out = task.output + b * task.output_stride;
    std::fill(out, out + dim, 0.0f);
    int64_t entries = 0;
    for (int64_t p = batch.bounds[b]; p < batch.bounds[b + 1]; ++p) {
      prefetch_entries_ahead(p, prefetch_end, row_bytes,
                             [&](int64_t q) { return weights.row<Element>(batch.indices[q]); });
      const int64_t r = batch.indices[p];
      if (r == batch.padding_idx) continue;
      const float* __restrict row;
      if constexpr (std::is_same_v<Element, float>) {
        row = weights.row<float>(r);
      } else {
        widen(weights.row<Element>(r), widened.values.data(), dim);
        row = widened.values.data();
      }
      if constexpr (mode == PoolingMode::max) {
        int64_t* positions = task.max_positions + b * task.output_stride;
        if (entries == 0) {
          for (int64_t d = 0; d < dim; ++d) {
            out[d] = row[d];
            positions[d] = p;
          }
        } else {
#pragma omp simd
          for (int64_t d = 0; d < dim; ++d) {
            // Strictly greater: the first entry reaching the maximum keeps it.
            if (row[d] > out[d]) {
              out[d] = row[d];
              positions[d] = p;
            }
          }
        }
      } else if constexpr (weighted) {
        const float scale = batch.per_sample_weights[p];
#pragma omp simd
        for (int64_t d = 0; d < dim; ++d) out[d] += scale * row[d];
      } else {
#pragma omp simd
        for (int64_t d = 0; d < dim; ++d) out[d] += row[d];
      }
      ++entries;
    }
    if constexpr (mode == PoolingMode::mean) {
      if (entries > 0) {
        const auto count = static_cast<float>(entries);
#pragma omp simd
        for (int64_t d = 0; d < dim; ++d) out[d] /= count;
      }
    }
    if constexpr (mode == PoolingMode::max) {
      if (entries == 0) std::fill_n(task.max_positions + b * task.output_stride, dim, int64_t{-1});
    }
  }
}

// Whether every id of the run is in [0, rows); copies them to the task's
// id_copy, if any.
bool check_run_ids(const Chunk& chunk) {
  const PoolingTask& task = *chunk.task;
  const int64_t first = task.batch.bounds[chunk.first_bag];
  const auto ids = task.batch.indices.subspan(first, task.batch.bounds[chunk.end_bag] - first);
  const uint64_t largest = task.id_copy != nullptr
                               ? largest_unsigned_id<true>(ids, task.id_copy + first)
                               : largest_unsigned_id<false>(ids, nullptr);
  return ids.empty() || largest < static_cast<uint64_t>(task.weights->num_rows());
}

void pool_chunk(const Chunk& chunk) {
  const PoolingTask& task = *chunk.task;
  visit_element_type(task.weights->dtype(), [&]<typename Element>(Element) {
    const int64_t first = chunk.first_bag, end = chunk.end_bag;
    switch (task.batch.mode) {
      case PoolingMode::sum:
        if (task.batch.per_sample_weights.empty()) {
          if (!pool_bags_at_fixed_dim<Element, false, false>(task, first, end))
            pool_bags<Element, PoolingMode::sum, false>(task, first, end);
        } else if (!pool_bags_at_fixed_dim<Element, true, false>(task, first, end)) {
          pool_bags<Element, PoolingMode::sum, true>(task, first, end);
        }
        break;
      case PoolingMode::mean:
        if (!pool_bags_at_fixed_dim<Element, false, true>(task, first, end))
          pool_bags<Element, PoolingMode::mean, false>(task, first, end);
        break;
      case PoolingMode::max:
        pool_bags<Element, PoolingMode::max, false>(task, chunk.first_bag, chunk.end_bag);
        break;
    }
  });
}

// Cuts every task into runs of consecutive bags of about kLookupsPerChunk
// lookups each (a run is at least one bag, however long).
std::vector<Chunk> make_chunks(std::span<const PoolingTask> tasks) {
  std::vector<Chunk> chunks;
  for (const PoolingTask& task : tasks) {
    const PooledBatch& batch = task.batch;
    int64_t first = 0;
    for (int64_t b = 0; b < batch.num_bags(); ++b) {
      if (batch.bounds[b + 1] - batch.bounds[first] >= kLookupsPerChunk) {
        chunks.push_back({&task, first, b + 1});
        first = b + 1;
      }
    }
    if (first < batch.num_bags()) chunks.push_back({&task, first, batch.num_bags()});
  }
  return chunks;
}

}  // namespace

bool checked_pooled_forward(std::span<const PoolingTask> tasks) {
  const std::vector<Chunk> chunks = make_chunks(tasks);
  const auto count = static_cast<int64_t>(chunks.size());
  bool all_in_range = true;
#pragma omp parallel for schedule(dynamic, 1) reduction(&& : all_in_range)
  for (int64_t c = 0; c < count; ++c) {
    if (chunks[c].task->unchecked_ids && !check_run_ids(chunks[c])) {
      all_in_range = false;
      continue;
    }
    pool_chunk(chunks[c]);
  }
  return all_in_range;
}

void gather_rows(const RowStorage& weights, std::span<const int64_t> indices,
                 std::span<float> output) {
  const int64_t dim = weights.dim();
  const int64_t count = static_cast<int64_t>(indices.size());
  visit_element_type(weights.dtype(), [&]<typename Element>(Element) {
    const std::size_t row_bytes = static_cast<std::size_t>(dim) * sizeof(Element);
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < count; ++p) {
      prefetch_entries_ahead(p, count, row_bytes,
                             [&](int64_t q) { return weights.row<Element>(indices[q]); });
      widen(weights.row<Element>(indices[p]), &output[p * dim], dim);
    }
  });
}

}  // namespace rowshard::cpu::ROWSHARD_CPU_LEVEL_NS
