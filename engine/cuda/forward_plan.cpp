#include "engine/cuda/forward_plan.h"

#include <algorithm>

namespace rowshard::cuda {

ForwardPlan plan_forward(std::span<const PoolingTask> tasks) {
  ForwardPlan plan;
  for (const PoolingTask& task : tasks) {
    const PooledBatch& batch = task.batch;
    const int64_t num_bags = batch.num_bags();
    if (num_bags <= 0) continue;
    const int64_t first_position = batch.bounds[0];
    StagedTask staged;
    staged.rows = task.weights->bytes();
    staged.num_rows = task.weights->num_rows();
    staged.dim = task.weights->dim();
    staged.padding_idx = batch.padding_idx;
    staged.first_bag = plan.total_bags;
    staged.num_bags = num_bags;
    staged.bounds_offset = static_cast<int64_t>(plan.bounds.size());
    staged.position_shift = first_position - plan.total_ids;
    staged.output_offset = plan.total_outputs;
    staged.dtype = task.weights->dtype();
    staged.mode = batch.mode;
    staged.weighted = !batch.per_sample_weights.empty();
    staged.check_ids = task.unchecked_ids;
    for (const int64_t bound : batch.bounds) plan.bounds.push_back(bound - staged.position_shift);

    plan.id_offsets.push_back(plan.total_ids);
    plan.total_ids += batch.bounds[num_bags] - first_position;
    plan.total_bags += num_bags;
    plan.total_outputs += num_bags * staged.dim;
    plan.max_dim = std::max(plan.max_dim, staged.dim);
    plan.any_weighted = plan.any_weighted || staged.weighted;
    plan.any_max = plan.any_max || staged.mode == PoolingMode::max;
    plan.tasks.push_back(staged);
    plan.sources.push_back(&task);
  }
  return plan;
}

int threads_per_bag(int64_t dim) {
  const int64_t lanes_needed = (dim + kColumnsPerLane - 1) / kColumnsPerLane;
  int lanes = 1;
  while (lanes < lanes_needed && lanes < 32) lanes *= 2;
  return lanes;
}

LaunchGeometry launch_geometry(int64_t max_dim, int64_t bags) {
  LaunchGeometry geometry;
  geometry.threads_per_bag = threads_per_bag(max_dim);
  const int64_t bags_per_block = geometry.threads_per_block / geometry.threads_per_bag;
  geometry.blocks = std::min((bags + bags_per_block - 1) / bags_per_block, kMaxBlocks);
  return geometry;
}

}  // namespace rowshard::cuda
