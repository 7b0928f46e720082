#include "engine/cpu/pooling.h"

#include <algorithm>
#include <vector>

#include "engine/bag_layout.h"
#include "engine/cpu/fixed_dim_pooling.h"
#include "engine/cpu/prefetch.h"
#include "engine/cpu/widen.h"
#include "engine/element_types.h"
#include "engine/error.h"

namespace rowshard::cpu {
namespace {

// About this many lookups per unit of work: enough to amortise scheduling,
// few enough that the last units balance the threads.
constexpr int64_t kLookupsPerChunk = 2048;

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
  thread_local std::vector<float> widened;
  if constexpr (!std::is_same_v<Element, float>) widened.resize(dim);

  for (int64_t b = first_bag; b < end_bag; ++b) {
    float* __restrict out = task.output + b * task.output_stride;
    std::fill(out, out + dim, 0.0f);
    int64_t entries = 0;
    for (int64_t p = batch.bounds[b]; p < batch.bounds[b + 1]; ++p) {
      prefetch_entries_ahead(p, prefetch_end, row_bytes, [&](int64_t q) {
        return weights.row<Element>(batch.indices[q]);
      });
      const int64_t r = batch.indices[p];
      if (r == batch.padding_idx) continue;
      const float* __restrict row;
      if constexpr (std::is_same_v<Element, float>) {
        row = weights.row<float>(r);
      } else {
        widen(weights.row<Element>(r), widened.data(), dim);
        row = widened.data();
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
      if (entries == 0)
        std::fill_n(task.max_positions + b * task.output_stride, dim,
                    int64_t{-1});
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
        pool_bags<Element, PoolingMode::max, false>(task, chunk.first_bag,
                                                    chunk.end_bag);
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

void pooled_forward(std::span<const PoolingTask> tasks) {
  const bool all_in_range = checked_pooled_forward(tasks);
  ROWSHARD_ASSERT(all_in_range);  // callers without unchecked ids
}

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

void pooled_forward(const RowStorage& weights, const PooledBatch& batch,
                    std::span<float> output,
                    std::span<int64_t> max_positions) {
  const PoolingTask task{&weights, batch, output.data(),
                         max_positions.empty() ? nullptr : max_positions.data(),
                         weights.dim()};
  pooled_forward({&task, 1});
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

}  // namespace rowshard::cpu
