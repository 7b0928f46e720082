// The pooled lookup on the GPU: every bag of every task in one launch, a
// group of threads_per_bag() lanes per bag, each lane pooling
// kColumnsPerLane consecutive columns over the bag's entries in position
// order with the arithmetic of engine/bag_arithmetic.h (so the results are
// the CPU engine's, bit for bit). Ids, bounds and weights are staged into
// device memory (forward_plan.h); results come back into the tasks'
// strided outputs only when every checked id was in range.
#include "engine/cuda/pooled_forward.h"

#include <cuda_runtime.h>

#include <algorithm>

#include "engine/bag_arithmetic.h"
#include "engine/cuda/cuda_check.h"
#include "engine/cuda/device_buffer.h"
#include "engine/cuda/forward_plan.h"

namespace rowshard::cuda {
namespace {

struct ForwardArguments {
  const StagedTask* tasks;
  int64_t num_tasks;
  const int64_t* ids;
  const int64_t* bounds;
  const float* weights;
  float* output;
  int64_t* positions;
  int* bad_id;
  int threads_per_bag;
};

// How many of a lane's kColumnsPerLane columns from `column` on a row of
// `dim` has (fewer at its end).
__device__ int columns_at(int64_t column, int64_t dim) {
  return dim - column < kColumnsPerLane ? static_cast<int>(dim - column) : kColumnsPerLane;
}

// Columns [column, column + count) of a row at `row`, widened: one vector
// load when all kColumnsPerLane are wanted and aligned for it.
template <DType kDType>
__device__ void load_columns(const StorageOf<kDType>* row, int count,
                             float (&values)[kColumnsPerLane]) {
  constexpr std::size_t kChunkBytes = kColumnsPerLane * sizeof(StorageOf<kDType>);
  if (count == kColumnsPerLane && reinterpret_cast<uintptr_t>(row) % kChunkBytes == 0) {
    if constexpr (kDType == DType::f32) {
      const float4 chunk = *reinterpret_cast<const float4*>(row);
      values[0] = chunk.x, values[1] = chunk.y, values[2] = chunk.z, values[3] = chunk.w;
    } else {
      const uint2 chunk = *reinterpret_cast<const uint2*>(row);
      const uint32_t halves[2] = {chunk.x, chunk.y};
      for (int k = 0; k < kColumnsPerLane; ++k)
        values[k] = widen_element<kDType>(static_cast<uint16_t>(halves[k / 2] >> (16 * (k % 2))));
    }
    return;
  }
  for (int k = 0; k < count; ++k) values[k] = widen_element<kDType>(row[k]);
}

// Bag `bag` of `task`, this lane's columns.
template <DType kDType>
__device__ void pool_bag(const ForwardArguments& launch, const StagedTask& task, int64_t bag,
                         int lane) {
  const auto* rows = static_cast<const StorageOf<kDType>*>(task.rows);
  const int64_t begin = launch.bounds[task.bounds_offset + bag];
  const int64_t end = launch.bounds[task.bounds_offset + bag + 1];
  const int64_t result = task.output_offset + bag * task.dim;
  const int64_t column_step = static_cast<int64_t>(launch.threads_per_bag) * kColumnsPerLane;
  for (int64_t column = lane * kColumnsPerLane; column < task.dim; column += column_step) {
    const int count = columns_at(column, task.dim);
    PooledColumn pooled[kColumnsPerLane];
    int64_t entries = 0;
    for (int64_t p = begin; p < end; ++p) {
      const int64_t id = launch.ids[p];
      // Lane 0 always has columns, so it meets every id of the bag before
      // any lane writes a result.
      if (task.check_ids && !id_in_range(id, task.num_rows)) {
        *launch.bad_id = 1;
        return;
      }
      if (!entry_is_pooled(id, task.padding_idx)) continue;
      float values[kColumnsPerLane];
      load_columns<kDType>(rows + id * task.dim + column, count, values);
      const float weight = task.weighted ? launch.weights[p] : 1.0f;
      for (int k = 0; k < count; ++k)
        pool_entry(task.mode, pooled[k], values[k], weight, p + task.position_shift, entries);
      ++entries;
    }
    for (int k = 0; k < count; ++k) {
      launch.output[result + column + k] = finished_value(task.mode, pooled[k], entries);
      if (task.mode == PoolingMode::max) launch.positions[result + column + k] = pooled[k].position;
    }
  }
}

__global__ void pool_bags(ForwardArguments launch, int64_t total_bags) {
  const int64_t thread = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int lane = static_cast<int>(threadIdx.x) % launch.threads_per_bag;
  const int64_t groups = static_cast<int64_t>(gridDim.x) * blockDim.x / launch.threads_per_bag;
  for (int64_t bag = thread / launch.threads_per_bag; bag < total_bags; bag += groups) {
    const StagedTask& task = launch.tasks[task_of_bag(launch.tasks, launch.num_tasks, bag)];
    const int64_t local_bag = bag - task.first_bag;
    switch (task.dtype) {
      case DType::f32: pool_bag<DType::f32>(launch, task, local_bag, lane); break;
      case DType::f16: pool_bag<DType::f16>(launch, task, local_bag, lane); break;
      case DType::bf16: pool_bag<DType::bf16>(launch, task, local_bag, lane); break;
    }
  }
}

template <DType kDType>
__global__ void gather(const void* stored, int64_t dim, const int64_t* ids, int64_t count,
                       float* output, int threads_per_row) {
  const auto* rows = static_cast<const StorageOf<kDType>*>(stored);
  const int64_t thread = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int lane = static_cast<int>(threadIdx.x) % threads_per_row;
  const int64_t groups = static_cast<int64_t>(gridDim.x) * blockDim.x / threads_per_row;
  const int64_t column_step = static_cast<int64_t>(threads_per_row) * kColumnsPerLane;
  for (int64_t p = thread / threads_per_row; p < count; p += groups) {
    for (int64_t column = lane * kColumnsPerLane; column < dim; column += column_step) {
      const int columns = columns_at(column, dim);
      float values[kColumnsPerLane];
      load_columns<kDType>(rows + ids[p] * dim + column, columns, values);
      for (int k = 0; k < columns; ++k) output[p * dim + column + k] = values[k];
    }
  }
}

// The device side of one forward, kept per thread so that its memory is
// reused from batch to batch.
struct ForwardBuffers {
  DeviceBuffer<StagedTask> tasks;
  DeviceBuffer<int64_t> ids;
  DeviceBuffer<int64_t> bounds;
  DeviceBuffer<float> weights;
  DeviceBuffer<float> output;
  DeviceBuffer<int64_t> positions;
  DeviceBuffer<int> bad_id;
};

ForwardBuffers& forward_buffers() {
  thread_local ForwardBuffers buffers;
  return buffers;
}

template <typename T>
void copy_to_device(T* device, std::span<const T> host, cudaStream_t stream) {
  if (!host.empty())
    ROWSHARD_CUDA_CHECK(
        cudaMemcpyAsync(device, host.data(), host.size_bytes(), cudaMemcpyHostToDevice, stream));
}

// `rows` rows of `width` elements, from a compact device block into host
// rows `stride` elements apart.
template <typename T>
void copy_rows_to_host(T* host, int64_t stride, const T* device, int64_t width, int64_t rows,
                       cudaStream_t stream) {
  ROWSHARD_CUDA_CHECK(cudaMemcpy2DAsync(host, stride * sizeof(T), device, width * sizeof(T),
                                        width * sizeof(T), rows, cudaMemcpyDeviceToHost, stream));
}

void stage_inputs(const ForwardPlan& plan, ForwardBuffers& buffers, cudaStream_t stream) {
  buffers.tasks.upload(std::span<const StagedTask>(plan.tasks), stream);
  buffers.bounds.upload(std::span<const int64_t>(plan.bounds), stream);
  buffers.ids.resize(plan.total_ids);
  buffers.weights.resize(plan.any_weighted ? plan.total_ids : 0);
  for (std::size_t t = 0; t < plan.tasks.size(); ++t) {
    const PooledBatch& batch = plan.sources[t]->batch;
    const int64_t first = batch.bounds.front();
    const auto count = static_cast<std::size_t>(batch.bounds.back() - first);
    copy_to_device(buffers.ids.data() + plan.id_offsets[t], batch.indices.subspan(first, count),
                   stream);
    if (plan.tasks[t].weighted)
      copy_to_device(buffers.weights.data() + plan.id_offsets[t],
                     batch.per_sample_weights.subspan(first, count), stream);
  }
  buffers.output.resize(plan.total_outputs);
  buffers.positions.resize(plan.any_max ? plan.total_outputs : 0);
  buffers.bad_id.resize(1);
  ROWSHARD_CUDA_CHECK(cudaMemsetAsync(buffers.bad_id.data(), 0, sizeof(int), stream));
}

void launch_pooling(const ForwardPlan& plan, ForwardBuffers& buffers, cudaStream_t stream) {
  const LaunchGeometry geometry = launch_geometry(plan.max_dim, plan.total_bags);
  const ForwardArguments arguments{
      buffers.tasks.data(),     static_cast<int64_t>(plan.tasks.size()),
      buffers.ids.data(),       buffers.bounds.data(),
      buffers.weights.data(),   buffers.output.data(),
      buffers.positions.data(), buffers.bad_id.data(),
      geometry.threads_per_bag};
  pool_bags<<<static_cast<unsigned>(geometry.blocks), geometry.threads_per_block, 0, stream>>>(
      arguments, plan.total_bags);
  ROWSHARD_CUDA_CHECK(cudaGetLastError());
}

void copy_results(const ForwardPlan& plan, const ForwardBuffers& buffers, cudaStream_t stream) {
  for (std::size_t t = 0; t < plan.tasks.size(); ++t) {
    const StagedTask& staged = plan.tasks[t];
    const PoolingTask& task = *plan.sources[t];
    copy_rows_to_host(task.output, task.output_stride, buffers.output.data() + staged.output_offset,
                      staged.dim, staged.num_bags, stream);
    if (staged.mode == PoolingMode::max)
      copy_rows_to_host(task.max_positions, task.output_stride,
                        buffers.positions.data() + staged.output_offset, staged.dim,
                        staged.num_bags, stream);
  }
}

// The checked ids, where a task asked for them (PoolingTask::id_copy).
void copy_checked_ids(const ForwardPlan& plan) {
  for (const PoolingTask* task : plan.sources) {
    if (!task->unchecked_ids || task->id_copy == nullptr) continue;
    const int64_t first = task->batch.bounds.front();
    const int64_t end = task->batch.bounds.back();
    std::copy(task->batch.indices.begin() + first, task->batch.indices.begin() + end,
              task->id_copy + first);
  }
}

}  // namespace

bool pooled_forward(std::span<const PoolingTask> tasks) {
  for (const PoolingTask& task : tasks)
    ROWSHARD_ASSERT(task.weights->placement() != MemoryPlacement::host);  // Table places them
  const ForwardPlan plan = plan_forward(tasks);
  if (plan.tasks.empty()) return true;
  const cudaStream_t stream = cudaStreamPerThread;
  ForwardBuffers& buffers = forward_buffers();
  stage_inputs(plan, buffers, stream);
  launch_pooling(plan, buffers, stream);
  int bad_id = 0;
  buffers.bad_id.download({&bad_id, 1}, stream);
  ROWSHARD_CUDA_CHECK(cudaStreamSynchronize(stream));
  if (bad_id != 0) return false;
  copy_results(plan, buffers, stream);
  ROWSHARD_CUDA_CHECK(cudaStreamSynchronize(stream));
  copy_checked_ids(plan);
  return true;
}

void gather_rows(const RowStorage& weights, std::span<const int64_t> indices,
                 std::span<float> output) {
  ROWSHARD_ASSERT(weights.placement() != MemoryPlacement::host);  // Table places them
  const auto count = static_cast<int64_t>(indices.size());
  if (count == 0) return;
  const cudaStream_t stream = cudaStreamPerThread;
  ForwardBuffers& buffers = forward_buffers();
  buffers.ids.upload(indices, stream);
  buffers.output.resize(output.size());
  const LaunchGeometry geometry = launch_geometry(weights.dim(), count);
  const auto blocks = static_cast<unsigned>(geometry.blocks);
  auto launch = [&](auto kernel) {
    kernel<<<blocks, geometry.threads_per_block, 0, stream>>>(
        weights.bytes(), weights.dim(), buffers.ids.data(), count, buffers.output.data(),
        geometry.threads_per_bag);
  };
  switch (weights.dtype()) {
    case DType::f32: launch(gather<DType::f32>); break;
    case DType::f16: launch(gather<DType::f16>); break;
    case DType::bf16: launch(gather<DType::bf16>); break;
  }
  ROWSHARD_CUDA_CHECK(cudaGetLastError());
  buffers.output.download(output, stream);
  ROWSHARD_CUDA_CHECK(cudaStreamSynchronize(stream));
}

}  // namespace rowshard::cuda
