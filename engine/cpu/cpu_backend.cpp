// The CPU backend: the OpenMP kernels of engine/cpu, at the instruction
// set level the CPU has (cpu_level.h).
#include "engine/cpu/cpu_backend.h"

#include <algorithm>
#include <vector>

#include "engine/cpu/backward.h"
#include "engine/cpu/narrow.h"
#include "engine/cpu/pooling.h"
#include "engine/cpu/prefetch.h"
#include "engine/cpu/widen.h"
#include "rowshard/engine/element_types.h"

namespace rowshard::cpu {
namespace {

// Writes each row gradient to a dense [rows, dim] array.
class DenseWriter final : public RowGradientSink {
 public:
  DenseWriter(std::span<float> gradient, int64_t dim) : gradient_(gradient), dim_(dim) {}
  void consume(const RowGradientBlock& block) override {
    for (std::size_t i = 0; i < block.rows.size(); ++i) {
      const std::span<const float> g = block.gradient(i);
      std::copy(g.begin(), g.end(), &gradient_[block.rows[i] * dim_]);
    }
  }

 private:
  std::span<float> gradient_;
  int64_t dim_;
};

// Writes each row gradient to its slot of a coalesced sparse gradient.
class SparseWriter final : public RowGradientSink {
 public:
  explicit SparseWriter(SparseGradient& gradient) : gradient_(gradient) {}
  void consume(const RowGradientBlock& block) override {
    // The block's rows are consecutive in the gradient's ascending rows.
    const auto first_slot = static_cast<std::size_t>(
        std::lower_bound(gradient_.rows.begin(), gradient_.rows.end(), block.rows.front()) -
        gradient_.rows.begin());
    for (std::size_t i = 0; i < block.rows.size(); ++i) {
      const std::span<const float> g = block.gradient(i);
      std::copy(g.begin(), g.end(), &gradient_.values[(first_slot + i) * gradient_.dim]);
    }
  }

 private:
  SparseGradient& gradient_;
};

// Applies the optimizer to each row as its gradient is ready. Rows stored
// in reduced precision are widened to fp32, updated, and rounded back.
template <typename Element>
class OptimizerApplier final : public RowGradientSink {
 public:
  // `rounding_key` names this step's stream of stochastic-rounding bits;
  // nullopt rounds to nearest even.
  OptimizerApplier(RowStorage& weights, RowOptimizer& optimizer,
                   std::optional<uint64_t> rounding_key)
      : weights_(weights), optimizer_(optimizer), rounding_key_(rounding_key) {}

  void consume(const RowGradientBlock& block) override {
    if constexpr (std::is_same_v<Element, float>) {
      optimizer_.update_rows(block.rows, weights_.mutable_row<float>(block.first_row), block.sums,
                             block.first_row);
    } else {
      // The block's rows are widened into an fp32 copy laid out as the
      // block's gradients are, so the optimizer's block kernel (fixed dims,
      // no call per row) updates them as it would an fp32 table's. A few
      // rows at a time, so that updating them overlaps the fetch of the
      // rows prefetched ahead instead of following all of it.
      constexpr std::size_t kRowsPerPass = 32;
      const int64_t dim = block.dim;
      float* const copies = widened_rows((block.rows.back() - block.first_row + 1) * dim);
      // Stored rows are addressed from the block's first row, found once:
      // mutable_row() is an out-of-line call (it refuses read-only storage).
      Element* const stored = weights_.mutable_row<Element>(block.first_row);
      auto offset_of = [&](int64_t row) { return (row - block.first_row) * dim; };
      const std::size_t row_bytes = dim * sizeof(Element);
      for (std::size_t first = 0; first < block.rows.size(); first += kRowsPerPass) {
        const std::span<const int64_t> rows =
            block.rows.subspan(first, std::min(kRowsPerPass, block.rows.size() - first));
        for (std::size_t i = first; i < first + rows.size(); ++i) {
          prefetch_update_ahead(
              block.rows, i, row_bytes, [&](int64_t row) { return stored + offset_of(row); },
              [](int64_t) {});
          const int64_t row = block.rows[i];
          widen(stored + offset_of(row), copies + offset_of(row), dim);
        }
        optimizer_.update_rows(rows, copies, block.sums, block.first_row);
        for (const int64_t row : rows) store(row, copies + offset_of(row), stored + offset_of(row));
      }
    }
  }

  // Updates one row given its gradient.
  void update(int64_t row, std::span<const float> g) {
    Element* stored = weights_.mutable_row<Element>(row);
    const int64_t dim = weights_.dim();
    if constexpr (std::is_same_v<Element, float>) {
      optimizer_.update_row(row, {stored, static_cast<std::size_t>(dim)}, g);
    } else {
      const std::span<float> widened(widened_rows(dim), static_cast<std::size_t>(dim));
      widen(stored, widened.data(), dim);
      optimizer_.update_row(row, widened, g);
      store(row, widened.data(), stored);
    }
  }

 private:
  // Room for `floats` of this thread's fp32 copies of the rows being
  // updated. Only a pointer: the buffer grows to the largest block and may
  // be longer than what the caller asked for.
  static float* widened_rows(int64_t floats) {
    thread_local std::vector<float> widened;
    if (widened.size() < static_cast<std::size_t>(floats)) widened.resize(floats);
    return widened.data();
  }

  // Rounds row `row`'s updated values into its storage, `stored`.
  void store(int64_t row, const float* values, Element* stored) {
    const int64_t dim = weights_.dim();
    if (rounding_key_)
      narrow_stochastically(values, stored, dim, *rounding_key_, row * dim);
    else
      narrow(values, stored, dim);
  }

  RowStorage& weights_;
  RowOptimizer& optimizer_;
  std::optional<uint64_t> rounding_key_;
};

// Applies the optimizer to an fp32 table's rows, each row's gradient
// summed in the optimizer's own pass.
class SummingOptimizerApplier final : public RowUpstreamSink {
 public:
  SummingOptimizerApplier(RowStorage& weights, RowOptimizer& optimizer)
      : weights_(weights.mutable_row<float>(0)), optimizer_(optimizer) {}

  void consume(const RowUpstreamBlock& block) override {
    optimizer_.update_summed_rows(block.rows, block.sum_end, block.upstream, weights_);
  }

 private:
  float* weights_;
  RowOptimizer& optimizer_;
};

class BackwardWorkspace final : public StepWorkspace {
 public:
  BackwardPlan plan;
};

}  // namespace

Device CpuBackend::device() const { return Device::cpu; }

bool CpuBackend::pooled_forward(std::span<const PoolingTask> tasks) const {
  return checked_pooled_forward(tasks);
}

void CpuBackend::gather_rows(const RowStorage& weights, std::span<const int64_t> indices,
                             std::span<float> output) const {
  cpu::gather_rows(weights, indices, output);
}

std::unique_ptr<StepWorkspace> CpuBackend::make_step_workspace() const {
  return std::make_unique<BackwardWorkspace>();
}

void CpuBackend::fused_step(RowStorage& weights, std::span<const GradientSource> sources,
                            RowOptimizer& optimizer, const StepSettings& settings,
                            StepWorkspace& workspace) const {
  BackwardPlan& plan = static_cast<BackwardWorkspace&>(workspace).plan;
  plan.build(sources, weights.num_rows(), weights.dim(), settings.scale_grad_by_freq);
  if (weights.dtype() == DType::f32 && plan.plain_sums()) {
    SummingOptimizerApplier applier(weights, optimizer);
    for_each_row_upstream(plan, applier);
    return;
  }
  visit_element_type(weights.dtype(), [&]<typename Element>(Element) {
    OptimizerApplier<Element> applier(weights, optimizer, settings.rounding_key);
    for_each_row_gradient(plan, applier);
  });
}

SparseGradient CpuBackend::sparse_gradient(int64_t num_rows, int64_t dim,
                                           std::span<const GradientSource> sources,
                                           bool scale_grad_by_freq) const {
  const BackwardPlan plan(sources, num_rows, dim, scale_grad_by_freq);
  SparseGradient gradient;
  gradient.dim = dim;
  gradient.rows = plan.touched_rows();
  gradient.values.resize(gradient.rows.size() * dim);
  SparseWriter writer(gradient);
  for_each_row_gradient(plan, writer);
  return gradient;
}

void CpuBackend::dense_gradient(int64_t num_rows, int64_t dim,
                                std::span<const GradientSource> sources, bool scale_grad_by_freq,
                                std::span<float> gradient) const {
  const BackwardPlan plan(sources, num_rows, dim, scale_grad_by_freq);
  DenseWriter writer(gradient, dim);
  for_each_row_gradient(plan, writer);
}

void CpuBackend::apply_gradients(RowStorage& weights, std::span<const int64_t> rows,
                                 std::span<const float> gradients, RowOptimizer& optimizer,
                                 const StepSettings& settings) const {
  const int64_t dim = weights.dim();
  const auto count = static_cast<int64_t>(rows.size());
  visit_element_type(weights.dtype(), [&]<typename Element>(Element) {
    OptimizerApplier<Element> applier(weights, optimizer, settings.rounding_key);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < count; ++i) applier.update(rows[i], gradients.subspan(i * dim, dim));
  });
}

}  // namespace rowshard::cpu
