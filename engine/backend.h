// The seam between tables and the kernels that read and update them: one
// interface per device (engine/cpu, engine/cuda), chosen where a table
// lives (TableOptions::device). Tables, collections and the sharding layer
// call only this; the reference loops (engine/reference) are the spec every
// backend is tested against.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "engine/pooling_task.h"
#include "rowshard/engine/device.h"
#include "rowshard/engine/gradient_source.h"
#include "rowshard/engine/lookup_input.h"
#include "rowshard/engine/optimizers/optimizer.h"
#include "rowshard/engine/pooling.h"
#include "rowshard/engine/row_storage.h"
#include "rowshard/engine/tensor.h"

namespace rowshard {

// How a fused step treats the rows it updates.
struct StepSettings {
  bool scale_grad_by_freq = false;
  // This step's stream of stochastic-rounding bits for reduced-precision
  // rows; nullopt rounds to nearest even.
  std::optional<uint64_t> rounding_key{};
};

// What a backend keeps between one table's steps (the grouping of the
// step's entries by row), so a table that steps every batch reuses it.
class StepWorkspace {
 public:
  virtual ~StepWorkspace() = default;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual Device device() const = 0;

  // Pools every task in one pass (many tables and features per launch).
  // Returns false if a task with unchecked_ids holds an id outside
  // [0, rows): the outputs are then incomplete, nothing else is written,
  // and the caller reports the offender.
  [[nodiscard]] virtual bool pooled_forward(std::span<const PoolingTask> tasks) const = 0;
  // The same for tasks whose ids are all checked.
  void pooled_forward_checked_ids(std::span<const PoolingTask> tasks) const;
  // Row indices[i], widened to fp32, into output[i * dim ...).
  virtual void gather_rows(const RowStorage& weights, std::span<const int64_t> indices,
                           std::span<float> output) const = 0;

  // The exact fused backward: every row's gradient summed once over all
  // sources, in source then position order, and `optimizer` applied to it
  // in the same pass. No dense gradient; no atomics.
  virtual std::unique_ptr<StepWorkspace> make_step_workspace() const = 0;
  virtual void fused_step(RowStorage& weights, std::span<const GradientSource> sources,
                          RowOptimizer& optimizer, const StepSettings& settings,
                          StepWorkspace& workspace) const = 0;
  // The same gradients, handed back: coalesced (ascending distinct rows),
  // or dense into gradient [rows, dim] (zero-filled by the caller).
  virtual SparseGradient sparse_gradient(int64_t num_rows, int64_t dim,
                                         std::span<const GradientSource> sources,
                                         bool scale_grad_by_freq) const = 0;
  virtual void dense_gradient(int64_t num_rows, int64_t dim,
                              std::span<const GradientSource> sources, bool scale_grad_by_freq,
                              std::span<float> gradient) const = 0;
  // The optimizer half of a step, for gradients summed elsewhere: row
  // rows[i] (distinct) gets gradients[i * dim ...).
  virtual void apply_gradients(RowStorage& weights, std::span<const int64_t> rows,
                               std::span<const float> gradients, RowOptimizer& optimizer,
                               const StepSettings& settings) const = 0;
};

// The backend of `device`. Throws InvalidArgument, naming `owner`, for a
// device this build has no backend for.
const Backend& backend_for(Device device, std::string_view owner);

}  // namespace rowshard
