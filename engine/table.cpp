#include "rowshard/engine/table.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/backend.h"
#include "engine/bag_layout.h"
#include "engine/counter_hash.h"
#include "engine/cpu/narrow.h"
#include "engine/cuda/cuda_backend.h"
#include "engine/max_norm.h"
#include "engine/normal_init.h"
#include "rowshard/engine/cpu_level.h"
#include "rowshard/engine/element_types.h"
#include "rowshard/engine/error.h"

namespace rowshard {
namespace {

RowStorage normal_weights(int64_t rows, int64_t dim, DType dtype, uint64_t seed,
                          MemoryPlacement placement) {
  RowStorage storage = RowStorage::allocate(rows, dim, dtype, placement);
  const int64_t elements = rows * dim;
  if (dtype == DType::f32) {
    fill_standard_normal(
        {reinterpret_cast<float*>(storage.mutable_bytes()), static_cast<std::size_t>(elements)},
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

// `weights` where a table placed at `placement` keeps them: as they are, or
// copied there (pretrained weights in host memory for a cuda table).
RowStorage placed(RowStorage weights, MemoryPlacement placement) {
  if (weights.placement() == placement) return weights;
  RowStorage copy =
      RowStorage::allocate(weights.num_rows(), weights.dim(), weights.dtype(), placement);
  std::memcpy(copy.mutable_bytes(), weights.bytes(), weights.size_bytes());
  return copy;
}

GradientSource gradient_source(const Lookup& lookup, std::span<const float> grad_output,
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
      backend_(&backend_for(options_.device, owner_)),
      step_workspace_(backend_->make_step_workspace()) {
  if (options_.num_embeddings < 0 || options_.embedding_dim < 1)
    throw InvalidArgument(message(owner_,
                                  ": num_embeddings must be >= 0 and embedding_dim >= 1, got ",
                                  options_.num_embeddings, " and ", options_.embedding_dim));
  validate_options();
  try {
    weights_ = normal_weights(options_.num_embeddings, options_.embedding_dim, options_.dtype,
                              options_.seed, placement());
  } catch (const OutOfMemory& error) {
    throw_out_of_memory(error);
  }
  if (padding_row_ != kNoPadding) {
    const std::size_t row_bytes = options_.embedding_dim * dtype_size(options_.dtype);
    std::memset(weights_.mutable_bytes() + padding_row_ * row_bytes, 0, row_bytes);
  }
  cuda::prefetch_to_device(weights_);
}

Table::Table(std::string_view kind, TableOptions options, RowStorage weights, bool freeze)
    : options_(std::move(options)),
      owner_(message(kind, " '", options_.name, "'")),
      frozen_(freeze),
      backend_(&backend_for(options_.device, owner_)),
      step_workspace_(backend_->make_step_workspace()) {
  if ((options_.num_embeddings != 0 && options_.num_embeddings != weights.num_rows()) ||
      (options_.embedding_dim != 0 && options_.embedding_dim != weights.dim()))
    throw InvalidArgument(message(owner_, ": pretrained weights are [", weights.num_rows(), ", ",
                                  weights.dim(), "] but the options ask for [",
                                  options_.num_embeddings, ", ", options_.embedding_dim, "]"));
  if (weights.dim() < 1)
    throw InvalidArgument(
        message(owner_, ": pretrained weights have dim ", weights.dim(), ", need >= 1"));
  options_.num_embeddings = weights.num_rows();
  options_.embedding_dim = weights.dim();
  options_.dtype = weights.dtype();
  validate_options();
  if (options_.max_norm && !weights.writable())
    throw InvalidArgument(message(owner_,
                                  ": max_norm renormalises rows in place, but the pretrained "
                                  "weights are read-only"));
  if (!freeze && !weights.writable())
    throw InvalidArgument(message(owner_, ": a trainable table needs writable weights"));
  try {
    weights_ = placed(std::move(weights), placement());
  } catch (const OutOfMemory& error) {
    throw_out_of_memory(error);
  }
  cuda::prefetch_to_device(weights_);
}

void Table::throw_out_of_memory(const OutOfMemory& error) const {
  throw OutOfMemory(message(owner_, " (", options_.num_embeddings, " x ", options_.embedding_dim,
                            " ", dtype_name(options_.dtype), "): ", error.what()));
}

void Table::validate_options() {
  // A refused ROWSHARD_CPU_LEVEL is reported here, not by a kernel called
  // from inside a parallel region (where a throw would end the process).
  cpu_level();
  const int64_t rows = options_.num_embeddings;
  if (options_.padding_idx) {
    const int64_t padding_idx = *options_.padding_idx;
    if (padding_idx < -rows || padding_idx >= rows)
      throw OutOfRange(message(owner_, ": padding_idx ", padding_idx, " is out of range [", -rows,
                               ", ", rows, ")"));
    padding_row_ = padding_idx < 0 ? padding_idx + rows : padding_idx;
  }
  if (options_.max_norm && !(*options_.max_norm > 0.0))
    throw InvalidArgument(message(owner_, ": max_norm ", *options_.max_norm, " must be > 0"));
  if (!(options_.norm_type > 0.0))
    throw InvalidArgument(message(owner_, ": norm_type ", options_.norm_type, " must be > 0"));
}

std::optional<int64_t> Table::padding_idx() const {
  if (padding_row_ == kNoPadding) return std::nullopt;
  return padding_row_;
}

void Table::prepare_rows(std::span<const int64_t> indices) {
  check_indices_in_range(owner_, indices, num_embeddings());
  renormalize(indices);
}

// On the host for every device: max_norm rewrites only the looked-up rows,
// which the host reaches in any placement (for GPU memory, by moving their
// pages over and back), so a kernel would only make it faster.
void Table::renormalize(std::span<const int64_t> indices) {
  if (options_.max_norm)
    renormalize_rows(weights_, indices, *options_.max_norm, options_.norm_type);
}

void Table::check_grad_output(const Lookup& lookup, std::span<const float> grad_output) const {
  check_length(owner_, "grad_output", grad_output.size(),
               static_cast<int64_t>(lookup.output.values.size()));
}

void Table::check_steppable(const RowOptimizer& optimizer) const {
  if (frozen_)
    throw InvalidArgument(message(owner_,
                                  ": the table is frozen (from_pretrained with freeze) and "
                                  "takes no optimizer step"));
  if (optimizer.num_rows() != num_embeddings() || optimizer.dim() != embedding_dim())
    throw InvalidArgument(message(
        owner_, ": optimizer ", optimizer.name(), " was built for [", optimizer.num_rows(), ", ",
        optimizer.dim(), "] but the table is [", num_embeddings(), ", ", embedding_dim(), "]"));
  if (options_.device == Device::cuda && !optimizer.state().empty() &&
      optimizer.state_placement() == MemoryPlacement::host)
    throw InvalidArgument(message(owner_, ": optimizer ", optimizer.name(),
                                  " keeps its state in host memory, which the GPU cannot read; "
                                  "build it for the table's placement (make_optimizer(config, "
                                  "rows, dim, table.placement()))"));
}

Tensor Table::dense_gradient(const Lookup& lookup, std::span<const float> grad_output) const {
  check_grad_output(lookup, grad_output);
  Tensor gradient{{num_embeddings(), embedding_dim()}, {}};
  gradient.values.assign(weights_.num_rows() * weights_.dim(), 0.0f);
  const GradientSource source = gradient_source(lookup, grad_output, padding_row_, embedding_dim());
  backend_->dense_gradient(num_embeddings(), embedding_dim(), {&source, 1},
                           options_.scale_grad_by_freq, gradient.values);
  return gradient;
}

SparseGradient Table::sparse_gradient(const Lookup& lookup,
                                      std::span<const float> grad_output) const {
  check_grad_output(lookup, grad_output);
  const GradientSource source = gradient_source(lookup, grad_output, padding_row_, embedding_dim());
  return sparse_gradient({&source, 1});
}

SparseGradient Table::sparse_gradient(std::span<const GradientSource> sources) const {
  return backend_->sparse_gradient(num_embeddings(), embedding_dim(), sources,
                                   options_.scale_grad_by_freq);
}

void Table::step(const Lookup& lookup, std::span<const float> grad_output,
                 RowOptimizer& optimizer) {
  check_steppable(optimizer);
  check_grad_output(lookup, grad_output);
  const GradientSource source = gradient_source(lookup, grad_output, padding_row_, embedding_dim());
  step({&source, 1}, optimizer);
}

std::optional<uint64_t> Table::next_rounding_key() {
  const uint64_t step = steps_taken_++;
  if (!options_.stochastic_rounding) return std::nullopt;
  return counter_hash(options_.seed, step);
}

void Table::step(std::span<const GradientSource> sources, RowOptimizer& optimizer) {
  check_steppable(optimizer);
  const StepSettings settings{options_.scale_grad_by_freq, next_rounding_key()};
  backend_->fused_step(weights_, sources, optimizer, settings, *step_workspace_);
}

void Table::apply_gradients(std::span<const int64_t> rows, std::span<const float> gradients,
                            RowOptimizer& optimizer) {
  check_steppable(optimizer);
  const int64_t dim = embedding_dim();
  check_length(owner_, "gradients", gradients.size(), static_cast<int64_t>(rows.size()) * dim);
  const StepSettings settings{options_.scale_grad_by_freq, next_rounding_key()};
  backend_->apply_gradients(weights_, rows, gradients, optimizer, settings);
}

}  // namespace rowshard
