#include "rowshard/engine/table.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/bag_layout.h"
#include "engine/counter_hash.h"
#include "engine/cpu/backward.h"
#include "engine/cpu/narrow.h"
#include "engine/cpu/prefetch.h"
#include "engine/cpu/widen.h"
#include "rowshard/engine/cpu_level.h"
#include "rowshard/engine/element_types.h"
#include "rowshard/engine/error.h"
#include "engine/max_norm.h"
#include "engine/normal_init.h"

namespace rowshard {
namespace {

RowStorage normal_weights(int64_t rows, int64_t dim, DType dtype,
                          uint64_t seed) {
  RowStorage storage = RowStorage::allocate(rows, dim, dtype);
  const int64_t elements = rows * dim;
  if (dtype == DType::f32) {
    fill_standard_normal({reinterpret_cast<float*>(storage.mutable_bytes()),
                          static_cast<std::size_t>(elements)},
                         seed);
    return storage;
  }
  // Drawn in fp32 a block at a time, so no fp32 copy of a big table exists.
  visit_element_type(dtype, [&]<typename Element>(Element) {
    if constexpr (!std::is_same_v<Element, float>) {
      auto* out = reinterpret_cast<Element*>(storage.mutable_bytes());
      constexpr int64_t kBlock = 4096;
#pragma omp parallel
      {
        std::vector<float> values(kBlock);
#pragma omp for schedule(static)
        for (int64_t first = 0; first < elements; first += kBlock) {
          const int64_t count = std::min(kBlock, elements - first);
          standard_normals({values.data(), static_cast<std::size_t>(count)}, seed,
                           static_cast<uint64_t>(first));
          cpu::narrow(values.data(), out + first, count);
        }
      }
    }
  });
  return storage;
}

// Writes each row gradient to a dense [rows, dim] array.
class DenseWriter final : public cpu::RowGradientSink {
 public:
  DenseWriter(std::span<float> gradient, int64_t dim)
      : gradient_(gradient), dim_(dim) {}
  void consume(const cpu::RowGradientBlock& block) override {
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
class SparseWriter final : public cpu::RowGradientSink {
 public:
  explicit SparseWriter(SparseGradient& gradient) : gradient_(gradient) {}
  void consume(const cpu::RowGradientBlock& block) override {
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
class OptimizerApplier final : public cpu::RowGradientSink {
 public:
  // `rounding_key` names this step's stream of stochastic-rounding bits;
  // nullopt rounds to nearest even.
  OptimizerApplier(RowStorage& weights, RowOptimizer& optimizer,
                   std::optional<uint64_t> rounding_key)
      : weights_(weights), optimizer_(optimizer), rounding_key_(rounding_key) {}

  void consume(const cpu::RowGradientBlock& block) override {
    if constexpr (std::is_same_v<Element, float>) {
      optimizer_.update_rows(block.rows, weights_.mutable_row<float>(block.first_row),
                             block.sums, block.first_row);
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
          cpu::prefetch_update_ahead(
              block.rows, i, row_bytes, [&](int64_t row) { return stored + offset_of(row); },
              [](int64_t) {});
          const int64_t row = block.rows[i];
          cpu::widen(stored + offset_of(row), copies + offset_of(row), dim);
        }
        optimizer_.update_rows(rows, copies, block.sums, block.first_row);
        for (const int64_t row : rows)
          store(row, copies + offset_of(row), stored + offset_of(row));
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
      cpu::widen(stored, widened.data(), dim);
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
      cpu::narrow_stochastically(values, stored, dim, *rounding_key_, row * dim);
    else
      cpu::narrow(values, stored, dim);
  }

  RowStorage& weights_;
  RowOptimizer& optimizer_;
  std::optional<uint64_t> rounding_key_;
};

GradientSource gradient_source(const Lookup& lookup,
                                    std::span<const float> grad_output,
                                    int64_t padding_idx, int64_t dim) {
  const std::vector<int64_t>& winners = lookup.saved.max_positions;
  return {lookup.saved.batch(padding_idx), grad_output.data(),
          winners.empty() ? nullptr : winners.data(), dim};
}

}  // namespace

Table::~Table() = default;
Table::Table(Table&&) noexcept = default;
Table& Table::operator=(Table&&) noexcept = default;

Table::Table(std::string_view kind, TableOptions options)
    : options_(std::move(options)),
      owner_(message(kind, " '", options_.name, "'")),
      step_plan_(std::make_unique<cpu::BackwardPlan>()) {
  if (options_.num_embeddings < 0 || options_.embedding_dim < 1)
    throw InvalidArgument(message(
        owner_, ": num_embeddings must be >= 0 and embedding_dim >= 1, got ",
        options_.num_embeddings, " and ", options_.embedding_dim));
  validate_options();
  try {
    weights_ = normal_weights(options_.num_embeddings, options_.embedding_dim,
                              options_.dtype, options_.seed);
  } catch (const OutOfMemory& error) {
    throw OutOfMemory(message(owner_, " (", options_.num_embeddings, " x ",
                              options_.embedding_dim, " ", dtype_name(options_.dtype),
                              "): ", error.what()));
  }
  if (padding_row_ != kNoPadding) {
    const std::size_t row_bytes =
        options_.embedding_dim * dtype_size(options_.dtype);
    std::memset(weights_.mutable_bytes() + padding_row_ * row_bytes, 0, row_bytes);
  }
}

Table::Table(std::string_view kind, TableOptions options, RowStorage weights,
             bool freeze)
    : options_(std::move(options)),
      owner_(message(kind, " '", options_.name, "'")),
      frozen_(freeze),
      step_plan_(std::make_unique<cpu::BackwardPlan>()) {
  if ((options_.num_embeddings != 0 &&
       options_.num_embeddings != weights.num_rows()) ||
      (options_.embedding_dim != 0 &&
       options_.embedding_dim != weights.dim()))
    throw InvalidArgument(message(
        owner_, ": pretrained weights are [", weights.num_rows(), ", ",
        weights.dim(), "] but the options ask for [", options_.num_embeddings,
        ", ", options_.embedding_dim, "]"));
  if (weights.dim() < 1)
    throw InvalidArgument(message(owner_, ": pretrained weights have dim ",
                                  weights.dim(), ", need >= 1"));
  options_.num_embeddings = weights.num_rows();
  options_.embedding_dim = weights.dim();
  options_.dtype = weights.dtype();
  validate_options();
  if (options_.max_norm && !weights.writable())
    throw InvalidArgument(message(
        owner_, ": max_norm renormalises rows in place, but the pretrained "
                "weights are read-only"));
  if (!freeze && !weights.writable())
    throw InvalidArgument(message(
        owner_, ": a trainable table needs writable weights"));
  weights_ = std::move(weights);
}

void Table::validate_options() {
  // A refused ROWSHARD_CPU_LEVEL is reported here, not by a kernel called
  // from inside a parallel region (where a throw would end the process).
  cpu_level();
  const int64_t rows = options_.num_embeddings;
  if (options_.padding_idx) {
    const int64_t padding_idx = *options_.padding_idx;
    if (padding_idx < -rows || padding_idx >= rows)
      throw OutOfRange(message(owner_, ": padding_idx ", padding_idx,
                               " is out of range [", -rows, ", ", rows, ")"));
    padding_row_ = padding_idx < 0 ? padding_idx + rows : padding_idx;
  }
  if (options_.max_norm && !(*options_.max_norm > 0.0))
    throw InvalidArgument(message(owner_, ": max_norm ", *options_.max_norm,
                                  " must be > 0"));
  if (!(options_.norm_type > 0.0))
    throw InvalidArgument(message(owner_, ": norm_type ", options_.norm_type,
                                  " must be > 0"));
}

std::optional<int64_t> Table::padding_idx() const {
  if (padding_row_ == kNoPadding) return std::nullopt;
  return padding_row_;
}

void Table::prepare_rows(std::span<const int64_t> indices) {
  check_indices_in_range(owner_, indices, num_embeddings());
  renormalize(indices);
}

void Table::renormalize(std::span<const int64_t> indices) {
  if (options_.max_norm)
    renormalize_rows(weights_, indices, *options_.max_norm,
                     options_.norm_type);
}

void Table::check_grad_output(const Lookup& lookup,
                              std::span<const float> grad_output) const {
  check_length(owner_, "grad_output", grad_output.size(),
               static_cast<int64_t>(lookup.output.values.size()));
}

void Table::check_steppable(const RowOptimizer& optimizer) const {
  if (frozen_)
    throw InvalidArgument(message(
        owner_, ": the table is frozen (from_pretrained with freeze) and "
                "takes no optimizer step"));
  if (optimizer.num_rows() != num_embeddings() ||
      optimizer.dim() != embedding_dim())
    throw InvalidArgument(message(
        owner_, ": optimizer ", optimizer.name(), " was built for [",
        optimizer.num_rows(), ", ", optimizer.dim(), "] but the table is [",
        num_embeddings(), ", ", embedding_dim(), "]"));
}

Tensor Table::dense_gradient(const Lookup& lookup,
                             std::span<const float> grad_output) const {
  check_grad_output(lookup, grad_output);
  Tensor gradient{{num_embeddings(), embedding_dim()}, {}};
  gradient.values.assign(weights_.num_rows() * weights_.dim(), 0.0f);
  const GradientSource source =
      gradient_source(lookup, grad_output, padding_row_, embedding_dim());
  const cpu::BackwardPlan plan({&source, 1}, num_embeddings(), embedding_dim(),
                                options_.scale_grad_by_freq);
  DenseWriter writer(gradient.values, embedding_dim());
  cpu::for_each_row_gradient(plan, writer);
  return gradient;
}

SparseGradient Table::sparse_gradient(const Lookup& lookup,
                                      std::span<const float> grad_output) const {
  check_grad_output(lookup, grad_output);
  const GradientSource source =
      gradient_source(lookup, grad_output, padding_row_, embedding_dim());
  return sparse_gradient({&source, 1});
}

SparseGradient Table::sparse_gradient(
    std::span<const GradientSource> sources) const {
  const cpu::BackwardPlan plan(sources, num_embeddings(), embedding_dim(),
                                options_.scale_grad_by_freq);
  SparseGradient gradient;
  gradient.dim = embedding_dim();
  gradient.rows = plan.touched_rows();
  gradient.values.resize(gradient.rows.size() * embedding_dim());
  SparseWriter writer(gradient);
  cpu::for_each_row_gradient(plan, writer);
  return gradient;
}

void Table::step(const Lookup& lookup, std::span<const float> grad_output,
                 RowOptimizer& optimizer) {
  check_steppable(optimizer);
  check_grad_output(lookup, grad_output);
  const GradientSource source =
      gradient_source(lookup, grad_output, padding_row_, embedding_dim());
  step({&source, 1}, optimizer);
}

std::optional<uint64_t> Table::next_rounding_key() {
  const uint64_t step = steps_taken_++;
  if (!options_.stochastic_rounding) return std::nullopt;
  return counter_hash(options_.seed, step);
}

void Table::step(std::span<const GradientSource> sources,
                 RowOptimizer& optimizer) {
  check_steppable(optimizer);
  step_plan_->build(sources, num_embeddings(), embedding_dim(),
                   options_.scale_grad_by_freq);
  const std::optional<uint64_t> rounding_key = next_rounding_key();
  visit_element_type(weights_.dtype(), [&]<typename Element>(Element) {
    OptimizerApplier<Element> applier(weights_, optimizer, rounding_key);
    cpu::for_each_row_gradient(*step_plan_, applier);
  });
}

void Table::apply_gradients(std::span<const int64_t> rows,
                            std::span<const float> gradients,
                            RowOptimizer& optimizer) {
  check_steppable(optimizer);
  const int64_t dim = embedding_dim();
  check_length(owner_, "gradients", gradients.size(),
               static_cast<int64_t>(rows.size()) * dim);
  const std::optional<uint64_t> rounding_key = next_rounding_key();
  const auto count = static_cast<int64_t>(rows.size());
  visit_element_type(weights_.dtype(), [&]<typename Element>(Element) {
    OptimizerApplier<Element> applier(weights_, optimizer, rounding_key);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < count; ++i)
      applier.update(rows[i], gradients.subspan(i * dim, dim));
  });
}

}  // namespace rowshard
