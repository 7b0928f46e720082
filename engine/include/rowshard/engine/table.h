// Table: what Embedding and EmbeddingBag have in common — the weights, the
// options that change how rows are read (padding_idx, max_norm,
// scale_grad_by_freq), and the three backward passes.
//
// Thread safety: a Table is not synchronised. forward() may write the table
// (max_norm) and step() does; run one call at a time per table. Each call
// uses OpenMP threads internally.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "rowshard/engine/device.h"
#include "rowshard/engine/dtype.h"
#include "rowshard/engine/gradient_source.h"
#include "rowshard/engine/optimizers/optimizer.h"
#include "rowshard/engine/pooling.h"
#include "rowshard/engine/row_storage.h"
#include "rowshard/engine/tensor.h"

namespace rowshard {

class Backend;
class OutOfMemory;
class StepWorkspace;

// Options shared by both table types, with PyTorch's names and defaults.
struct TableOptions {
  // Names the table in error messages ("EmbeddingBag 'user_id': ...").
  std::string name = "table";
  int64_t num_embeddings = 0;
  int64_t embedding_dim = 0;
  // A row that reads as excluded (EmbeddingBag) and never gets a gradient.
  // Negative values count from the end; valid range [-rows, rows).
  std::optional<int64_t> padding_idx{};
  // When set, looked-up rows are renormalised in place before each lookup
  // (see engine/max_norm.h).
  std::optional<double> max_norm{};
  double norm_type = 2.0;
  // Divides a row's gradient by its number of occurrences in the batch.
  bool scale_grad_by_freq = false;
  // Storage of the weights. Lookups and updates compute in fp32; updated
  // f16 / bf16 rows are rounded to nearest even, or stochastically.
  DType dtype = DType::f32;
  bool stochastic_rounding = false;
  // Seeds the N(0, 1) initialisation of tables not made from_pretrained,
  // and the stochastic rounding.
  uint64_t seed = 0;
  // Where the table lives, and so whose kernels read and update it; a
  // device this build has no backend for, or a cuda table where no CUDA
  // device answers, is refused with the reason.
  Device device = Device::cpu;
  // For a cuda table: its rows and optimizer state in GPU memory, or in
  // pinned host memory the GPU reads over the bus (tables larger than the
  // GPU's memory). A table that does not fit where asked is refused with
  // OutOfMemory naming it and the bytes. Ignored for cpu tables.
  CudaMemory cuda_memory = CudaMemory::device;
};

// Where a table with `options` keeps its rows and optimizer state.
inline MemoryPlacement memory_placement(const TableOptions& options) {
  return memory_placement(options.device, options.cuda_memory);
}

// A forward's result: the output, and what its backward needs.
struct Lookup {
  Tensor output;
  SavedLookup saved;
};

class Table {
 public:
  virtual ~Table();
  Table(Table&&) noexcept;
  Table& operator=(Table&&) noexcept;

  const std::string& name() const { return options_.name; }
  int64_t num_embeddings() const { return weights_.num_rows(); }
  int64_t embedding_dim() const { return weights_.dim(); }
  // The padding row, counted from the start; nullopt without one.
  std::optional<int64_t> padding_idx() const;
  bool frozen() const { return frozen_; }
  const TableOptions& options() const { return options_; }
  const RowStorage& weights() const { return weights_; }
  // Where the weights live (and where an optimizer for them keeps its
  // state: make_optimizer's placement).
  MemoryPlacement placement() const { return memory_placement(options_); }
  // Optimizer steps this table has taken: the counter behind its stochastic
  // rounding's random stream, saved and restored so a resumed run rounds as
  // an uninterrupted one would.
  uint64_t steps_taken() const { return steps_taken_; }
  void set_steps_taken(uint64_t steps) { steps_taken_ = steps; }

  // For loaders (checkpoint restore): the weights to overwrite in place.
  RowStorage& mutable_weights() { return weights_; }
  // "Embedding 'name'" or "EmbeddingBag 'name'": how errors name this table.
  const std::string& owner() const { return owner_; }
  // The kernels of the table's device.
  const Backend& backend() const { return *backend_; }

  // The gradient of the table for the upstream gradient of `lookup`, as the
  // dense [rows, dim] tensor weight.grad would hold (rows never looked up
  // are zero). For tests and small tables; training uses step().
  Tensor dense_gradient(const Lookup& lookup, std::span<const float> grad_output) const;

  // The same gradient as PyTorch's sparse=True gives it, coalesced: the
  // distinct looked-up rows other than padding_idx, ascending.
  SparseGradient sparse_gradient(const Lookup& lookup, std::span<const float> grad_output) const;

  // One training step: sums each distinct looked-up row's gradient once and
  // applies `optimizer` to that row in the same pass, never building a dense
  // gradient. Throws InvalidArgument for a frozen table, a grad_output of the
  // wrong size, or an optimizer built for another shape; nothing changes then.
  void step(const Lookup& lookup, std::span<const float> grad_output, RowOptimizer& optimizer);

  // The same two for several lookups of this table at once (the features of
  // a collection that share it): each distinct row's gradient is summed over
  // all `sources` and the row is updated once.
  void step(std::span<const GradientSource> sources, RowOptimizer& optimizer);
  SparseGradient sparse_gradient(std::span<const GradientSource> sources) const;

  // The second half of a fused step, for gradients summed elsewhere (a
  // data-parallel all-reduce): applies `optimizer` to each of `rows` with
  // its gradient, gradients[i * dim .. (i + 1) * dim). Rows must be distinct.
  void apply_gradients(std::span<const int64_t> rows, std::span<const float> gradients,
                       RowOptimizer& optimizer);

  // Applies max_norm, if set, to the rows `indices` name; they must already
  // be checked to be in range. forward() does this itself; a collection
  // calls it once it has checked every feature.
  void renormalize(std::span<const int64_t> indices);

 protected:
  // A new table, N(0, 1) from options.seed, with the padding row zeroed.
  Table(std::string_view kind, TableOptions options);
  // A table over given weights, kept exactly as they are.
  Table(std::string_view kind, TableOptions options, RowStorage weights, bool freeze);

  // Checks the indices, then applies max_norm to the rows they name.
  void prepare_rows(std::span<const int64_t> indices);

 private:
  void validate_options();
  // Rethrows `error` naming the table and its shape.
  [[noreturn]] void throw_out_of_memory(const OutOfMemory& error) const;
  void check_steppable(const RowOptimizer& optimizer) const;
  // Counts a step; the key of its stochastic-rounding bits, if enabled.
  std::optional<uint64_t> next_rounding_key();
  void check_grad_output(const Lookup& lookup, std::span<const float> grad_output) const;

  TableOptions options_;
  std::string owner_;
  RowStorage weights_;
  int64_t padding_row_ = kNoPadding;
  // Optimizer steps taken: part of the stochastic rounding's counter, so
  // every step draws fresh bits.
  uint64_t steps_taken_ = 0;
  bool frozen_ = false;
  const Backend* backend_ = nullptr;
  // step()'s grouping of the entries, kept so its memory is reused.
  std::unique_ptr<StepWorkspace> step_workspace_;
};

}  // namespace rowshard
