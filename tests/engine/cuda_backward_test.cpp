// The CUDA fused backward against the CPU backend, on a device (label
// `gpu`; skipped where no device answers). Rows with at most
// kEntriesPerPartial entries must be the CPU's bits; a hot row is within
// float rounding of the exact sum, and the same bits on every run.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "engine/backend.h"
#include "engine/cuda/cuda_backend.h"
#include "engine/cuda/segment_plan.h"
#include "rowshard/engine/element_types.h"
#include "rowshard/engine/error.h"
#include "rowshard/engine/optimizers/optimizer_config.h"
#include "tests/engine/random_batches.h"

namespace rowshard {
namespace {

class CudaBackward : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string reason = cuda::unavailable_reason();
    if (!reason.empty()) GTEST_SKIP() << reason;
  }
  const Backend& cpu() const { return backend_for(Device::cpu, "test"); }
  const Backend& gpu() const { return backend_for(Device::cuda, "test"); }
};

// A table in managed memory (what a cuda table's rows are), holding
// `values` rounded to `dtype`.
RowStorage managed_table(const std::vector<float>& values, int64_t rows, int64_t dim, DType dtype) {
  const RowStorage host = RowStorage::copy_of(values, rows, dim);
  void* memory = nullptr;
  EXPECT_EQ(cudaMallocManaged(&memory, std::max<std::size_t>(1, values.size() * 4)), cudaSuccess);
  visit_element_type(dtype, [&]<typename Element>(Element) {
    auto* out = static_cast<Element*>(memory);
    for (std::size_t i = 0; i < values.size(); ++i) out[i] = from_float<Element>(values[i]);
  });
  return RowStorage::borrow(std::shared_ptr<void>(memory, cudaFree), memory, rows, dim, dtype,
                            true);
}

// The same table in host memory, for the CPU backend.
RowStorage host_copy(const RowStorage& table) {
  RowStorage copy = RowStorage::allocate(table.num_rows(), table.dim(), table.dtype());
  std::memcpy(copy.mutable_bytes(), table.bytes(), table.size_bytes());
  return copy;
}

// An optimizer whose state the GPU can reach (registered host memory).
struct DeviceOptimizer {
  std::unique_ptr<RowOptimizer> optimizer;
  DeviceOptimizer(const OptimizerConfig& config, int64_t rows, int64_t dim)
      : optimizer(make_optimizer(config, rows, dim)) {
    if (!optimizer->state().empty()) {
      EXPECT_EQ(cudaHostRegister(optimizer->state().data(), optimizer->state().size_bytes(),
                                 cudaHostRegisterDefault),
                cudaSuccess);
    }
  }
  ~DeviceOptimizer() {
    if (!optimizer->state().empty()) cudaHostUnregister(optimizer->state().data());
  }
};

struct Lookup {
  std::vector<int64_t> indices, bounds, max_positions;
  std::vector<float> weights, grad_output;
  PoolingMode mode = PoolingMode::sum;
  int64_t padding_idx = kNoPadding;
  GradientSource source(int64_t dim) const {
    return {{indices, bounds, weights, mode, padding_idx},
            grad_output.data(),
            mode == PoolingMode::max ? max_positions.data() : nullptr,
            dim};
  }
};

Lookup random_lookup(std::mt19937_64& rng, PoolingMode mode, int64_t rows, int64_t dim,
                     int64_t bags, int64_t padding_idx) {
  const testing::RandomBags random = testing::random_bags(rng, bags, 8, rows);
  Lookup lookup{random.indices, random.offsets, {}, {}, {}, mode, padding_idx};
  lookup.bounds.push_back(static_cast<int64_t>(random.indices.size()));
  if (mode == PoolingMode::sum) lookup.weights = random.per_sample_weights;
  lookup.grad_output = testing::random_values(rng, bags * dim);
  if (mode == PoolingMode::max) {
    lookup.max_positions.assign(bags * dim, -1);
    for (int64_t b = 0; b < bags; ++b)
      for (int64_t d = 0; d < dim; ++d)
        if (lookup.bounds[b] < lookup.bounds[b + 1])
          lookup.max_positions[b * dim + d] =
              lookup.bounds[b] +
              static_cast<int64_t>(rng() % (lookup.bounds[b + 1] - lookup.bounds[b]));
  }
  return lookup;
}

void expect_same_bytes(const RowStorage& a, const RowStorage& b) {
  ASSERT_EQ(a.size_bytes(), b.size_bytes());
  EXPECT_EQ(std::memcmp(a.bytes(), b.bytes(), a.size_bytes()), 0);
}

void expect_same_state(const RowOptimizer& a, const RowOptimizer& b) {
  ASSERT_EQ(a.state().size(), b.state().size());
  EXPECT_EQ(std::memcmp(a.state().data(), b.state().data(), a.state().size_bytes()), 0);
}

// Every optimizer, storage type and pooling mode, three sources on one
// table with padding and frequency scaling, two steps: the CPU's bits.
TEST_F(CudaBackward, FusedStepIsTheCpuBackendsBits) {
  const int64_t rows = 300, dim = 70, padding = 7;
  for (const OptimizerKind kind :
       {OptimizerKind::sgd, OptimizerKind::adagrad, OptimizerKind::rowwise_adagrad})
    for (const DType dtype : {DType::f32, DType::f16, DType::bf16})
      for (const bool by_freq : {false, true}) {
        SCOPED_TRACE(std::string(optimizer_kind_name(kind)) + " " + std::string(dtype_name(dtype)));
        std::mt19937_64 rng(21);
        const OptimizerConfig config{kind, 0.05f, std::nullopt, 0.01f, 0.1f};
        RowStorage on_gpu =
            managed_table(testing::random_values(rng, rows * dim), rows, dim, dtype);
        RowStorage on_cpu = host_copy(on_gpu);
        DeviceOptimizer gpu_optimizer(config, rows, dim);
        std::unique_ptr<RowOptimizer> cpu_optimizer = make_optimizer(config, rows, dim);
        auto gpu_workspace = gpu().make_step_workspace();
        auto cpu_workspace = cpu().make_step_workspace();
        for (uint64_t step = 0; step < 2; ++step) {
          const Lookup lookups[] = {random_lookup(rng, PoolingMode::sum, rows, dim, 500, padding),
                                    random_lookup(rng, PoolingMode::mean, rows, dim, 400, padding),
                                    random_lookup(rng, PoolingMode::max, rows, dim, 300, padding)};
          const GradientSource sources[] = {lookups[0].source(dim), lookups[1].source(dim),
                                            lookups[2].source(dim)};
          const StepSettings settings{
              by_freq, dtype == DType::f16 ? std::optional<uint64_t>(step + 99) : std::nullopt};
          gpu().fused_step(on_gpu, sources, *gpu_optimizer.optimizer, settings, *gpu_workspace);
          cpu().fused_step(on_cpu, sources, *cpu_optimizer, settings, *cpu_workspace);
        }
        expect_same_bytes(on_gpu, on_cpu);
        expect_same_state(*gpu_optimizer.optimizer, *cpu_optimizer);
      }
}

TEST_F(CudaBackward, SparseAndDenseGradientsAreTheCpusBits) {
  const int64_t rows = 1000, dim = 33;
  std::mt19937_64 rng(22);
  const Lookup lookups[] = {random_lookup(rng, PoolingMode::mean, rows, dim, 2000, 3),
                            random_lookup(rng, PoolingMode::sum, rows, dim, 100, 3)};
  const GradientSource sources[] = {lookups[0].source(dim), lookups[1].source(dim)};
  for (const bool by_freq : {false, true}) {
    const SparseGradient got = gpu().sparse_gradient(rows, dim, sources, by_freq);
    const SparseGradient expected = cpu().sparse_gradient(rows, dim, sources, by_freq);
    EXPECT_EQ(got.rows, expected.rows);
    ASSERT_EQ(got.values.size(), expected.values.size());
    EXPECT_EQ(std::memcmp(got.values.data(), expected.values.data(), got.values.size() * 4), 0);
    std::vector<float> dense(rows * dim, 0.0f), expected_dense(rows * dim, 0.0f);
    gpu().dense_gradient(rows, dim, sources, by_freq, dense);
    cpu().dense_gradient(rows, dim, sources, by_freq, expected_dense);
    EXPECT_EQ(std::memcmp(dense.data(), expected_dense.data(), dense.size() * 4), 0);
  }
}

TEST_F(CudaBackward, ApplyGradientsIsTheCpusBits) {
  const int64_t rows = 50, dim = 24;
  std::mt19937_64 rng(23);
  const OptimizerConfig config{OptimizerKind::rowwise_adagrad, 0.1f, std::nullopt, 0.02f, 0.0f};
  RowStorage on_gpu = managed_table(testing::random_values(rng, rows * dim), rows, dim, DType::f32);
  RowStorage on_cpu = host_copy(on_gpu);
  DeviceOptimizer gpu_optimizer(config, rows, dim);
  std::unique_ptr<RowOptimizer> cpu_optimizer = make_optimizer(config, rows, dim);
  const std::vector<int64_t> touched = {41, 2, 17, 0, 49};
  const std::vector<float> gradients = testing::random_values(rng, touched.size() * dim);
  gpu().apply_gradients(on_gpu, touched, gradients, *gpu_optimizer.optimizer, {});
  cpu().apply_gradients(on_cpu, touched, gradients, *cpu_optimizer, {});
  expect_same_bytes(on_gpu, on_cpu);
  expect_same_state(*gpu_optimizer.optimizer, *cpu_optimizer);
}

// One row hit 1,000,000 times in a step (plus a few cold rows): its
// gradient is within recursive summation's bound of the double-precision
// sum, and two runs give the same bits.
TEST_F(CudaBackward, HotRowIsNearTheExactSumAndTheSameEveryRun) {
  const int64_t rows = 10, dim = 64, hot = 4, hits = 1'000'000;
  std::mt19937_64 rng(24);
  Lookup lookup;
  for (int64_t b = 0; b < hits; ++b) {
    lookup.bounds.push_back(b);
    lookup.indices.push_back(b % 1000 == 0 ? b % 3 : hot);
  }
  lookup.bounds.push_back(hits);
  lookup.grad_output = testing::random_values(rng, hits * dim);
  const GradientSource sources[] = {lookup.source(dim)};
  const SparseGradient first = gpu().sparse_gradient(rows, dim, sources, false);
  const SparseGradient second = gpu().sparse_gradient(rows, dim, sources, false);
  ASSERT_EQ(first.rows, (std::vector<int64_t>{0, 1, 2, hot}));
  EXPECT_EQ(std::memcmp(first.values.data(), second.values.data(), first.values.size() * 4), 0);
  const int64_t hot_hits = hits - hits / 1000;
  const double roundings =
      cuda::kEntriesPerPartial + static_cast<double>(cuda::partials_of(hot_hits));
  for (int64_t d = 0; d < dim; ++d) {
    double exact = 0.0, magnitude = 0.0;
    for (int64_t b = 0; b < hits; ++b)
      if (lookup.indices[b] == hot) {
        exact += lookup.grad_output[b * dim + d];
        magnitude += std::fabs(lookup.grad_output[b * dim + d]);
      }
    EXPECT_NEAR(first.values[3 * dim + d], exact, roundings * 0x1p-24 * magnitude) << "col " << d;
  }
  // The cold rows are the CPU's bits.
  const SparseGradient cpu_gradient = cpu().sparse_gradient(rows, dim, sources, false);
  EXPECT_EQ(std::memcmp(first.values.data(), cpu_gradient.values.data(), 3 * dim * 4), 0);
}

TEST_F(CudaBackward, AnOptimizerWithoutAKernelIsRefused) {
  class Custom final : public RowOptimizer {
   public:
    std::string_view name() const override { return "custom"; }
    void update_row(int64_t, std::span<float>, std::span<const float>) override {}
    std::span<float> state() override { return {}; }
    std::span<const float> state() const override { return {}; }
    Shape state_shape() const override { return {0}; }
    int64_t num_rows() const override { return 1; }
    int64_t dim() const override { return 1; }
  } custom;
  RowStorage table = managed_table({1.0f}, 1, 1, DType::f32);
  auto workspace = gpu().make_step_workspace();
  EXPECT_THROW(gpu().fused_step(table, {}, custom, {}, *workspace), InvalidArgument);
}

}  // namespace
}  // namespace rowshard
