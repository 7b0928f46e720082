// How the CUDA pooled forward lays a span of pooling tasks out for one
// launch, and the launch's geometry: host code, tested in the CPU suite,
// that engine/cuda/pooled_forward.cu uploads and launches.
//
// Staging: each task's ids (positions bounds[0] .. bounds[num_bags] of its
// batch) are copied end to end into one array, so features that share a
// batch's values array stage each of their own ranges once; its bounds are
// rebased onto that array; its results go to a compact [num_bags, dim]
// block of one output array, copied back into the task's strided output.
// Every bag of every task is one "launch bag", numbered task after task.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/host_device.h"
#include "engine/pooling_task.h"

namespace rowshard::cuda {

// One task as the kernel reads it.
struct StagedTask {
  const void* rows = nullptr;  // the table's rows, readable by the GPU
  int64_t num_rows = 0;
  int64_t dim = 0;
  int64_t padding_idx = kNoPadding;
  int64_t first_bag = 0;  // the launch bag of the task's bag 0
  int64_t num_bags = 0;
  int64_t bounds_offset = 0;   // where its num_bags + 1 staged bounds start
  int64_t position_shift = 0;  // batch position = staged position + shift
  int64_t output_offset = 0;   // where its [num_bags, dim] results start
  DType dtype = DType::f32;
  PoolingMode mode = PoolingMode::mean;
  bool weighted = false;
  bool check_ids = false;
};

struct ForwardPlan {
  // The tasks with at least one bag, in span order, and the PoolingTask
  // each came from.
  std::vector<StagedTask> tasks;
  std::vector<const PoolingTask*> sources;
  // Where each staged task's ids (and per-sample weights) start in the
  // staged ids: the staged position of its batch position bounds[0].
  std::vector<int64_t> id_offsets;
  std::vector<int64_t> bounds;
  int64_t total_ids = 0;
  int64_t total_bags = 0;
  int64_t total_outputs = 0;  // elements of the staged output
  int64_t max_dim = 0;
  bool any_weighted = false;
  bool any_max = false;
};

ForwardPlan plan_forward(std::span<const PoolingTask> tasks);

// Each lane of a bag's group pools this many consecutive columns, read
// with one vector load where they are whole and aligned.
inline constexpr int kColumnsPerLane = 4;
inline constexpr int kThreadsPerBlock = 256;
// Blocks beyond this loop over the launch bags instead (grid stride).
inline constexpr int64_t kMaxBlocks = int64_t{1} << 16;

// The lanes that pool one bag (or gather one row) of `dim` columns: enough
// for kColumnsPerLane columns each, rounded up to a power of two, at most
// a warp (32); a group never straddles a warp.
int threads_per_bag(int64_t dim);

struct LaunchGeometry {
  int threads_per_bag = 1;
  int threads_per_block = kThreadsPerBlock;
  int64_t blocks = 0;  // 0: nothing to launch
};

// One launch over `bags` bags (or rows) of at most `max_dim` columns.
LaunchGeometry launch_geometry(int64_t max_dim, int64_t bags);

// The index of the staged task that holds launch bag `bag`; `tasks` are
// those of a ForwardPlan (count >= 1, first_bag ascending, none empty).
ROWSHARD_HOST_DEVICE inline int64_t task_of_bag(const StagedTask* tasks, int64_t count,
                                                int64_t bag) {
  int64_t low = 0, high = count - 1;
  while (low < high) {
    const int64_t middle = low + (high - low + 1) / 2;
    if (tasks[middle].first_bag <= bag)
      low = middle;
    else
      high = middle - 1;
  }
  return low;
}

}  // namespace rowshard::cuda
