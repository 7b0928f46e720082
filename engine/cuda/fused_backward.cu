// The exact fused backward on the GPU (see segment_plan.h for the plan and
// where its results are the CPU engine's bits). A step's sources are
// staged to device buffers, its entries grouped by row with a stable radix
// sort, each row's gradient summed by one warp (hot rows from fixed-size
// partials) and handed, in the same kernel, to the optimizer's row update
// (row_update_arithmetic.h) on the table's rows in place.
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_scan.cuh>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <limits>
#include <vector>

#include "engine/counter_hash.h"
#include "engine/cuda/device_buffer.h"
#include "engine/cuda/fused_backward.h"
#include "engine/cuda/segment_plan.h"
#include "engine/reduced_precision_bits.h"
#include "engine/row_update_arithmetic.h"
#include "rowshard/engine/error.h"
#include "rowshard/engine/optimizers/adagrad.h"
#include "rowshard/engine/optimizers/rowwise_adagrad.h"
#include "rowshard/engine/optimizers/sgd.h"

namespace rowshard::cuda {
namespace {

// The legacy default stream: ordered with whatever else the table runs on
// the device (its forward), and the host reads the rows after a step.
constexpr cudaStream_t kStream = 0;
constexpr unsigned kFullWarp = 0xffffffffu;

__device__ int64_t thread_index() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ int64_t warp_index() { return thread_index() / kWarpSize; }
__device__ int lane_index() { return static_cast<int>(threadIdx.x % kWarpSize); }

// ---- The table's rows, widened to fp32 and rounded back -------------------

struct Rounding {
  bool stochastic;
  uint64_t key;
};

struct Fp32Rows {
  using Stored = float;
  __device__ static float widen(float value) { return value; }
  __device__ static float narrow(float value, const Rounding&, uint64_t) { return value; }
};

// fp16 / bf16 rows: as the CPU engine stores them, to nearest even or
// stochastically with the bits counter_hash(key, row * dim + column).
template <typename Format>
struct ReducedRows {
  using Stored = uint16_t;
  __device__ static float widen(uint16_t value) { return Format::widen(value); }
  __device__ static uint16_t narrow(float value, const Rounding& rounding, uint64_t counter) {
    return rounding.stochastic
               ? bits::round_stochastically<Format>(value, counter_hash(rounding.key, counter))
               : Format::nearest(value);
  }
};

// ---- Optimizer rules: a per-row factor, then each column --------------------

struct SgdRule {
  float lr, decay;
  template <typename Rows>
  __device__ float row_factor(int, int64_t, const typename Rows::Stored*, const float*,
                              int64_t) const {
    return 0.0f;
  }
  __device__ float column(int64_t, float weight, float gradient, float) const {
    return sgd_column(weight, gradient, lr, decay);
  }
};

struct AdagradRule {
  float lr, eps, decay;
  float* sums_of_squares;  // [rows, dim]
  template <typename Rows>
  __device__ float row_factor(int, int64_t, const typename Rows::Stored*, const float*,
                              int64_t) const {
    return 0.0f;
  }
  __device__ float column(int64_t element, float weight, float gradient, float) const {
    return adagrad_column(weight, gradient, sums_of_squares[element], lr, eps, decay);
  }
};

// Row-wise Adagrad: lanes 0..15 take the sixteen running sums of squares,
// every lane adds them pairwise as the CPU does, lane 0 updates the row's
// accumulator, and its step goes to every lane.
struct RowWiseRule {
  float lr, eps, decay;
  float* accumulators;  // [rows]
  template <typename Rows>
  __device__ float row_factor(int lane, int64_t row, const typename Rows::Stored* stored,
                              const float* gradient, int64_t dim) const {
    float lane_sum = 0.0f;
    if (lane < kRowWiseLanes)
      for (int64_t d = lane; d < dim; d += kRowWiseLanes)
        lane_sum += rowwise_square(gradient[d], Rows::widen(stored[d]), decay);
    float lanes[kRowWiseLanes];
    for (int l = 0; l < kRowWiseLanes; ++l) lanes[l] = __shfl_sync(kFullWarp, lane_sum, l);
    float step = 0.0f;
    if (lane == 0) {
      const RowWiseStep next =
          rowwise_adagrad_step(accumulators[row], add_lanes_pairwise(lanes), dim, lr, eps);
      accumulators[row] = next.accumulator;
      step = next.step;
    }
    return __shfl_sync(kFullWarp, step, 0);
  }
  __device__ float column(int64_t, float weight, float gradient, float step) const {
    return rowwise_adagrad_column(weight, gradient, step, decay);
  }
};

// Applies a rule to a row of the table, one warp per row.
template <typename Rows, typename Rule>
struct TableUpdate {
  typename Rows::Stored* table;
  int64_t dim;
  Rounding rounding;
  Rule rule;

  __device__ void operator()(int lane, int64_t row, const float* gradient) const {
    typename Rows::Stored* stored = table + row * dim;
    const float factor = rule.template row_factor<Rows>(lane, row, stored, gradient, dim);
    for (int64_t d = lane; d < dim; d += kWarpSize) {
      const int64_t element = row * dim + d;
      const float updated = rule.column(element, Rows::widen(stored[d]), gradient[d], factor);
      stored[d] = Rows::narrow(updated, rounding, static_cast<uint64_t>(element));
    }
  }
};

// Leaves the summed gradients where they are, for sparse_gradient.
struct KeepGradients {
  __device__ void operator()(int, int64_t, const float*) const {}
};

// ---- Kernels ------------------------------------------------------------------

// Counts are integer atomics: exact whatever the order, unlike float sums.
struct StepStatus {
  unsigned long long no_gradient;
  unsigned long long rows_out_of_range;
};

__global__ void locate_entries(StagedStep step, int64_t positions, uint64_t* keys,
                               int64_t* global_positions, int64_t* bag_of_position,
                               StepStatus* status) {
  const int64_t g = thread_index();
  if (g >= positions) return;
  const LocatedEntry entry = locate_entry(step, g);
  keys[g] = entry.key;
  global_positions[g] = g;
  bag_of_position[g] = entry.bag;
  if (entry.key == step.no_gradient_key()) atomicAdd(&status->no_gradient, 1ull);
  if (entry.row_out_of_range) atomicAdd(&status->rows_out_of_range, 1ull);
}

__global__ void count_entries_per_bag(StagedSource source, int64_t* bag_entries) {
  const int64_t b = thread_index();
  if (b < source.num_bags) bag_entries[b] = count_bag_entries(source, b);
}

__global__ void mark_segment_heads(const uint64_t* keys, int64_t entries, int64_t* heads) {
  const int64_t i = thread_index();
  if (i < entries) heads[i] = i == 0 || keys[i] != keys[i - 1];
}

// segment_number[i]: 1 + the segment of sorted entry i (the heads' running
// count). Each segment's first entry and row; one past the last segment,
// the entry count.
__global__ void record_segments(const uint64_t* keys, const int64_t* segment_number,
                                int64_t entries, int64_t* segment_start, int64_t* segment_rows) {
  const int64_t i = thread_index();
  if (i >= entries) return;
  if (i == 0 || keys[i] != keys[i - 1]) {
    segment_start[segment_number[i] - 1] = i;
    segment_rows[segment_number[i] - 1] = static_cast<int64_t>(keys[i]);
  }
  if (i == entries - 1) segment_start[segment_number[i]] = entries;
}

__global__ void count_partials(const int64_t* segment_start, int64_t segments,
                               int64_t* partial_count) {
  const int64_t u = thread_index();
  if (u < segments) partial_count[u] = partials_of(segment_start[u + 1] - segment_start[u]);
}

__global__ void make_terms(StagedStep step, const int64_t* sorted_positions,
                           const int64_t* segment_number, const int64_t* segment_start,
                           const int64_t* bag_of_position, int64_t entries, EntryTerm* terms) {
  const int64_t i = thread_index();
  if (i >= entries) return;
  const int64_t u = segment_number[i] - 1;
  const int64_t g = sorted_positions[i];
  terms[i] = make_term(step, g, bag_of_position[g], segment_start[u + 1] - segment_start[u]);
}

// The grouped step as the summing kernels read it.
struct Grouping {
  const EntryTerm* terms;
  const int64_t* segment_start;  // segments + 1
  const int64_t* first_partial;
  const int64_t* rows;
  int64_t segments;
  int64_t dim;
  float* partials;   // [partial, dim]
  float* gradients;  // [segment, dim]

  __device__ Segment segment(int64_t u) const {
    return {segment_start[u], segment_start[u + 1] - segment_start[u], first_partial[u]};
  }
};

// One warp per partial of a hot row. The grid covers max_partials; the
// warps past the step's real count return.
__global__ void sum_partials(Grouping grouping) {
  const int64_t j = warp_index();
  const Segment last = grouping.segment(grouping.segments - 1);
  if (j >= last.first_partial + partials_of(last.entries)) return;
  const int64_t* first_partial = grouping.first_partial;
  const int64_t u =
      last_at_most(grouping.segments, j, [first_partial](int64_t s) { return first_partial[s]; });
  const Segment segment = grouping.segment(u);
  for (int64_t d = lane_index(); d < grouping.dim; d += kWarpSize)
    grouping.partials[j * grouping.dim + d] =
        partial_column_sum(grouping.terms, segment, j - segment.first_partial, d);
}

// One warp per row: its gradient, then `sink` with it.
template <typename Sink>
__global__ void sum_rows(Grouping grouping, Sink sink) {
  const int64_t u = warp_index();
  if (u >= grouping.segments) return;
  const Segment segment = grouping.segment(u);
  float* gradient = grouping.gradients + u * grouping.dim;
  for (int64_t d = lane_index(); d < grouping.dim; d += kWarpSize)
    gradient[d] = row_column_sum(grouping.terms, grouping.partials, segment, grouping.dim, d);
  __syncwarp();  // the rule reads columns other lanes summed
  sink(lane_index(), grouping.rows[u], gradient);
}

template <typename Sink>
__global__ void apply_to_rows(const int64_t* rows, const float* gradients, int64_t count,
                              int64_t dim, Sink sink) {
  const int64_t i = warp_index();
  if (i < count) sink(lane_index(), rows[i], gradients + i * dim);
}

// ---- Host side ------------------------------------------------------------------

dim3 grid_of(int64_t blocks) {
  ROWSHARD_ASSERT(blocks > 0 && blocks <= std::numeric_limits<int32_t>::max());
  return dim3(static_cast<unsigned>(blocks));
}

void check_launch() { ROWSHARD_CUDA_CHECK(cudaGetLastError()); }

template <typename T>
void upload_at(DeviceBuffer<T>& buffer, int64_t offset, const T* host, int64_t count) {
  if (count > 0)
    ROWSHARD_CUDA_CHECK(cudaMemcpyAsync(buffer.data() + offset, host, count * sizeof(T),
                                        cudaMemcpyHostToDevice, kStream));
}

// Runs a CUB device algorithm: `run(temp, bytes)` asked for its scratch
// size, then run with it.
template <typename Run>
void run_cub(DeviceBuffer<std::byte>& scratch, Run run) {
  std::size_t bytes = 0;
  ROWSHARD_CUDA_CHECK(run(nullptr, bytes));
  scratch.resize(bytes);
  ROWSHARD_CUDA_CHECK(run(scratch.data(), bytes));
}

// A step's device memory, kept between a table's steps (resize keeps
// what is big enough).
class CudaStepWorkspace final : public StepWorkspace {
 public:
  // The sources' arrays, each source at its offset.
  DeviceBuffer<StagedSource> sources;
  DeviceBuffer<int64_t> indices, bounds, max_positions, bag_entries;
  DeviceBuffer<float> weights, grad_output;
  // The grouping.
  DeviceBuffer<uint64_t> keys, sorted_keys;
  DeviceBuffer<int64_t> positions, sorted_positions, bag_of_position, heads, segment_number;
  DeviceBuffer<int64_t> segment_start, segment_rows, partial_count, first_partial;
  DeviceBuffer<EntryTerm> terms;
  DeviceBuffer<float> partials, gradients;
  DeviceBuffer<StepStatus> status;
  DeviceBuffer<std::byte> scratch;
  int64_t segments = 0;
  int64_t entries = 0;  // with a gradient
};

// What staging found: the step's shape in positions and bags.
struct StagedShape {
  StagedStep step;
  int64_t positions = 0;
  int64_t bags = 0;
};

// Bag b's upstream gradient is dim floats at b * stride.
int64_t upstream_floats(const GradientSource& source, int64_t dim) {
  const int64_t bags = source.batch.num_bags();
  return bags == 0 ? 0 : (bags - 1) * source.stride + dim;
}

// Copies the sources' host arrays into the workspace, each source after
// the ones before it, and describes them to the kernels.
StagedShape stage(CudaStepWorkspace& ws, std::span<const GradientSource> sources, int64_t num_rows,
                  int64_t dim, bool scale_grad_by_freq) {
  int64_t positions = 0, bags = 0, bounds = 0, upstream = 0, winners = 0;
  for (const GradientSource& source : sources) {
    positions += static_cast<int64_t>(source.batch.indices.size());
    bags += source.batch.num_bags();
    bounds += static_cast<int64_t>(source.batch.bounds.size());
    upstream += upstream_floats(source, dim);
    if (source.batch.mode == PoolingMode::max) winners += upstream_floats(source, dim);
  }
  ws.indices.resize(positions);
  ws.weights.resize(positions);
  ws.bounds.resize(bounds);
  ws.grad_output.resize(upstream);
  ws.max_positions.resize(winners);
  ws.bag_entries.resize(bags);
  std::vector<StagedSource> staged;
  positions = bags = bounds = upstream = winners = 0;
  for (const GradientSource& source : sources) {
    const PooledBatch& batch = source.batch;
    const auto count = static_cast<int64_t>(batch.indices.size());
    const int64_t floats = upstream_floats(source, dim);
    StagedSource& s = staged.emplace_back();
    s.indices = ws.indices.data() + positions;
    s.bounds = ws.bounds.data() + bounds;
    s.grad_output = ws.grad_output.data() + upstream;
    s.num_positions = count;
    s.num_bags = batch.num_bags();
    s.stride = source.stride;
    s.padding_idx = batch.padding_idx;
    s.mode = batch.mode;
    s.first_position = positions;
    s.first_bag = bags;
    upload_at(ws.indices, positions, batch.indices.data(), count);
    upload_at(ws.bounds, bounds, batch.bounds.data(), static_cast<int64_t>(batch.bounds.size()));
    upload_at(ws.grad_output, upstream, source.grad_output, floats);
    if (!batch.per_sample_weights.empty()) {
      s.weights = ws.weights.data() + positions;
      upload_at(ws.weights, positions, batch.per_sample_weights.data(), count);
    }
    if (batch.mode == PoolingMode::max) {
      s.max_positions = ws.max_positions.data() + winners;
      upload_at(ws.max_positions, winners, source.max_positions, floats);
      winners += floats;
    }
    if (batch.mode == PoolingMode::mean && source.entries_per_bag != nullptr)
      upload_at(ws.bag_entries, bags, source.entries_per_bag, s.num_bags);
    positions += count;
    bags += s.num_bags;
    bounds += static_cast<int64_t>(batch.bounds.size());
    upstream += floats;
  }
  ws.sources.upload(std::span<const StagedSource>(staged), kStream);
  for (std::size_t s = 0; s < sources.size(); ++s) {
    if (sources[s].batch.mode != PoolingMode::mean || sources[s].entries_per_bag != nullptr ||
        staged[s].num_bags == 0)
      continue;
    count_entries_per_bag<<<grid_of(blocks_for_threads(staged[s].num_bags)), kThreadsPerBlock, 0,
                            kStream>>>(staged[s], ws.bag_entries.data() + staged[s].first_bag);
    check_launch();
  }
  const StagedStep step{ws.sources.data(), static_cast<int64_t>(staged.size()), num_rows,
                        ws.bag_entries.data(), scale_grad_by_freq};
  return {step, positions, bags};
}

// Sorts the staged entries by row and cuts them into segments; afterwards
// ws.segments rows have a gradient and each entry its term.
void group(CudaStepWorkspace& ws, const StagedShape& shape) {
  const int64_t n = shape.positions;
  ws.segments = ws.entries = 0;
  if (n == 0) return;
  ws.keys.resize(n);
  ws.positions.resize(n);
  ws.bag_of_position.resize(n);
  ws.status.resize(1);
  ROWSHARD_CUDA_CHECK(cudaMemsetAsync(ws.status.data(), 0, sizeof(StepStatus), kStream));
  const dim3 per_entry = grid_of(blocks_for_threads(n));
  locate_entries<<<per_entry, kThreadsPerBlock, 0, kStream>>>(
      shape.step, n, ws.keys.data(), ws.positions.data(), ws.bag_of_position.data(),
      ws.status.data());
  check_launch();

  // Keys are rows and no_gradient_key = num_rows: its bits are all to sort.
  const int end_bit = std::bit_width(static_cast<uint64_t>(shape.step.num_rows));
  ws.sorted_keys.resize(n);
  ws.sorted_positions.resize(n);
  run_cub(ws.scratch, [&](void* temp, std::size_t& bytes) {
    return cub::DeviceRadixSort::SortPairs(temp, bytes, ws.keys.data(), ws.sorted_keys.data(),
                                           ws.positions.data(), ws.sorted_positions.data(), n, 0,
                                           std::max(end_bit, 1), kStream);
  });

  ws.heads.resize(n);
  ws.segment_number.resize(n);
  mark_segment_heads<<<per_entry, kThreadsPerBlock, 0, kStream>>>(ws.sorted_keys.data(), n,
                                                                  ws.heads.data());
  check_launch();
  run_cub(ws.scratch, [&](void* temp, std::size_t& bytes) {
    return cub::DeviceScan::InclusiveSum(temp, bytes, ws.heads.data(), ws.segment_number.data(), n,
                                         kStream);
  });
  ws.segment_start.resize(n + 1);
  ws.segment_rows.resize(n);
  record_segments<<<per_entry, kThreadsPerBlock, 0, kStream>>>(
      ws.sorted_keys.data(), ws.segment_number.data(), n, ws.segment_start.data(),
      ws.segment_rows.data());
  check_launch();

  // The one wait of the step: how many runs, and whether the last is the
  // entries without a gradient (their key sorts last).
  StepStatus status{};
  int64_t runs = 0;
  ws.status.download(std::span<StepStatus>(&status, 1), kStream);
  ROWSHARD_CUDA_CHECK(cudaMemcpyAsync(&runs, ws.segment_number.data() + n - 1, sizeof runs,
                                      cudaMemcpyDeviceToHost, kStream));
  ROWSHARD_CUDA_CHECK(cudaStreamSynchronize(kStream));
  ROWSHARD_ASSERT(status.rows_out_of_range == 0);  // the forward checked every id
  ws.segments = runs - (status.no_gradient > 0 ? 1 : 0);
  ws.entries = n - static_cast<int64_t>(status.no_gradient);
  if (ws.segments == 0) return;

  const int64_t segments = ws.segments;
  ws.partial_count.resize(segments);
  ws.first_partial.resize(segments);
  count_partials<<<grid_of(blocks_for_threads(segments)), kThreadsPerBlock, 0, kStream>>>(
      ws.segment_start.data(), segments, ws.partial_count.data());
  check_launch();
  run_cub(ws.scratch, [&](void* temp, std::size_t& bytes) {
    return cub::DeviceScan::ExclusiveSum(temp, bytes, ws.partial_count.data(),
                                         ws.first_partial.data(), segments, kStream);
  });
  ws.terms.resize(ws.entries);
  make_terms<<<grid_of(blocks_for_threads(ws.entries)), kThreadsPerBlock, 0, kStream>>>(
      shape.step, ws.sorted_positions.data(), ws.segment_number.data(), ws.segment_start.data(),
      ws.bag_of_position.data(), ws.entries, ws.terms.data());
  check_launch();
}

// Sums every row's gradient of a grouped step into ws.gradients and hands
// it to `sink` in the same kernel.
template <typename Sink>
void sum_gradients(CudaStepWorkspace& ws, int64_t dim, Sink sink) {
  if (ws.segments == 0) return;
  // Only a step of more than kEntriesPerPartial entries can have a hot row.
  const int64_t partial_warps = is_hot(ws.entries) ? max_partials(ws.entries) : 0;
  ws.partials.resize(partial_warps * dim);
  ws.gradients.resize(ws.segments * dim);
  const Grouping grouping{ws.terms.data(),
                          ws.segment_start.data(),
                          ws.first_partial.data(),
                          ws.segment_rows.data(),
                          ws.segments,
                          dim,
                          ws.partials.data(),
                          ws.gradients.data()};
  if (partial_warps > 0) {
    sum_partials<<<grid_of(blocks_for_warps(partial_warps)), kThreadsPerBlock, 0, kStream>>>(
        grouping);
    check_launch();
  }
  sum_rows<<<grid_of(blocks_for_warps(ws.segments)), kThreadsPerBlock, 0, kStream>>>(grouping,
                                                                                     sink);
  check_launch();
}

// Kernels may only touch memory the GPU reaches: device, managed or
// registered host memory (or any, on a system with pageable access).
void require_device_reachable(const void* pointer, std::string_view what) {
  if (pointer == nullptr) return;
  cudaPointerAttributes attributes{};
  ROWSHARD_CUDA_CHECK(cudaPointerGetAttributes(&attributes, pointer));
  if (attributes.type != cudaMemoryTypeUnregistered) return;
  int device = 0, pageable = 0;
  ROWSHARD_CUDA_CHECK(cudaGetDevice(&device));
  ROWSHARD_CUDA_CHECK(cudaDeviceGetAttribute(&pageable, cudaDevAttrPageableMemoryAccess, device));
  if (pageable == 0)
    throw InvalidArgument(message("device cuda: ", what,
                                  " is in host memory the GPU cannot reach (a cuda table's rows "
                                  "and optimizer state must be in GPU, managed or pinned memory)"));
}

// Calls run(update) with the TableUpdate for the table's element type and
// the optimizer's rule.
template <typename Run>
void with_table_update(RowStorage& weights, RowOptimizer& optimizer, const StepSettings& settings,
                       Run run) {
  std::byte* table = weights.mutable_bytes();
  require_device_reachable(table, "the table's rows");
  require_device_reachable(optimizer.state().data(), "the optimizer's state");
  const Rounding rounding{settings.rounding_key.has_value(), settings.rounding_key.value_or(0)};
  const int64_t dim = weights.dim();
  auto with_rule = [&]<typename Rule>(const Rule& rule) {
    switch (weights.dtype()) {
      case DType::f16:
        return run(TableUpdate<ReducedRows<bits::Half>, Rule>{reinterpret_cast<uint16_t*>(table),
                                                              dim, rounding, rule});
      case DType::bf16:
        return run(TableUpdate<ReducedRows<bits::BFloat>, Rule>{reinterpret_cast<uint16_t*>(table),
                                                                dim, rounding, rule});
      case DType::f32: break;
    }
    return run(TableUpdate<Fp32Rows, Rule>{reinterpret_cast<float*>(table), dim, rounding, rule});
  };
  float* state = optimizer.state().data();
  if (const auto* sgd = dynamic_cast<const Sgd*>(&optimizer))
    return with_rule(SgdRule{sgd->options().lr, sgd->options().weight_decay});
  if (const auto* adagrad = dynamic_cast<const Adagrad*>(&optimizer)) {
    const AdagradOptions& o = adagrad->options();
    return with_rule(AdagradRule{o.lr, o.eps, o.weight_decay, state});
  }
  if (const auto* rowwise = dynamic_cast<const RowWiseAdagrad*>(&optimizer)) {
    const RowWiseAdagradOptions& o = rowwise->options();
    return with_rule(RowWiseRule{o.lr, o.eps, o.weight_decay, state});
  }
  throw InvalidArgument(message("device cuda: optimizer ", optimizer.name(),
                                " has no CUDA kernel (sgd, adagrad and rowwise_adagrad have)"));
}

// The coalesced gradient of a grouped, summed step.
SparseGradient download_gradient(const CudaStepWorkspace& ws, int64_t dim) {
  SparseGradient gradient;
  gradient.dim = dim;
  gradient.rows.resize(ws.segments);
  gradient.values.resize(ws.segments * dim);
  ws.segment_rows.download(std::span<int64_t>(gradient.rows), kStream);
  ws.gradients.download(std::span<float>(gradient.values), kStream);
  ROWSHARD_CUDA_CHECK(cudaStreamSynchronize(kStream));
  return gradient;
}

}  // namespace

std::unique_ptr<StepWorkspace> make_step_workspace() {
  return std::make_unique<CudaStepWorkspace>();
}

void fused_step(RowStorage& weights, std::span<const GradientSource> sources,
                RowOptimizer& optimizer, const StepSettings& settings, StepWorkspace& workspace) {
  auto& ws = static_cast<CudaStepWorkspace&>(workspace);
  const int64_t dim = weights.dim();
  with_table_update(weights, optimizer, settings, [&](const auto& update) {
    group(ws, stage(ws, sources, weights.num_rows(), dim, settings.scale_grad_by_freq));
    sum_gradients(ws, dim, update);
  });
  // The host may read the rows and state next.
  ROWSHARD_CUDA_CHECK(cudaStreamSynchronize(kStream));
}

SparseGradient sparse_gradient(int64_t num_rows, int64_t dim,
                               std::span<const GradientSource> sources, bool scale_grad_by_freq) {
  CudaStepWorkspace ws;
  group(ws, stage(ws, sources, num_rows, dim, scale_grad_by_freq));
  sum_gradients(ws, dim, KeepGradients{});
  return download_gradient(ws, dim);
}

void dense_gradient(int64_t num_rows, int64_t dim, std::span<const GradientSource> sources,
                    bool scale_grad_by_freq, std::span<float> gradient) {
  const SparseGradient sparse = sparse_gradient(num_rows, dim, sources, scale_grad_by_freq);
  for (std::size_t i = 0; i < sparse.rows.size(); ++i)
    std::copy_n(sparse.values.begin() + static_cast<std::ptrdiff_t>(i * dim), dim,
                gradient.begin() + sparse.rows[i] * dim);
}

void apply_gradients(RowStorage& weights, std::span<const int64_t> rows,
                     std::span<const float> gradients, RowOptimizer& optimizer,
                     const StepSettings& settings) {
  if (rows.empty()) return;
  const int64_t dim = weights.dim();
  DeviceBuffer<int64_t> device_rows;
  DeviceBuffer<float> device_gradients;
  device_rows.upload(rows, kStream);
  device_gradients.upload(gradients, kStream);
  const auto count = static_cast<int64_t>(rows.size());
  with_table_update(weights, optimizer, settings, [&](const auto& update) {
    apply_to_rows<<<grid_of(blocks_for_warps(count)), kThreadsPerBlock, 0, kStream>>>(
        device_rows.data(), device_gradients.data(), count, dim, update);
    check_launch();
  });
  ROWSHARD_CUDA_CHECK(cudaStreamSynchronize(kStream));
}

}  // namespace rowshard::cuda
