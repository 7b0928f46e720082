// OpenMP kernels for pooled lookup. Each has the semantics of its namesake
// in engine/reference/pooling.h and is tested against it.
//
// Every bag is reduced by one thread in entry order, so results are
// bit-identical whatever the thread count. Rows a few entries ahead are
// prefetched: a random row gather waits on memory, not on arithmetic.
#pragma once

#include <cstdint>
#include <span>

#include "engine/pooling_task.h"
#include "rowshard/engine/pooling.h"
#include "rowshard/engine/row_storage.h"

namespace rowshard::cpu {

// Runs all tasks in one parallel loop over (task, run of bags), so that a
// small feature or a run of long bags does not leave a core idle.
void pooled_forward(std::span<const PoolingTask> tasks);

// pooled_forward for tasks that may have unchecked_ids. Returns false if
// one of those ids is outside [0, rows): the outputs are then incomplete
// (nothing else is written), and the caller reports the offender.
[[nodiscard]] bool checked_pooled_forward(std::span<const PoolingTask> tasks);

// One table, output [num_bags, dim] (see reference::pooled_forward).
void pooled_forward(const RowStorage& weights, const PooledBatch& batch, std::span<float> output,
                    std::span<int64_t> max_positions);

void gather_rows(const RowStorage& weights, std::span<const int64_t> indices,
                 std::span<float> output);

}  // namespace rowshard::cpu
