#include "training/model/dlrm.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "engine/counter_hash.h"
#include "rowshard/engine/error.h"
#include "training/model/batch_chunks.h"

namespace rowshard {
namespace {

// Keeps the dense model's stream apart from the tables' when a job gives
// both the same seed.
constexpr uint64_t kDenseInitStream = 0x6473'6e65'6d6c'7270ULL;

// Uniform in [-bound, bound) from the top 24 bits: exactly representable
// steps, so the float conversion does not bias the ends.
float uniform_at(uint64_t seed, uint64_t element, double bound) {
  const double unit =
      static_cast<double>(counter_hash(seed ^ kDenseInitStream, element) >> 40) * 0x1.0p-24;
  return static_cast<float>(bound * (2.0 * unit - 1.0));
}

void check_size(const char* what, int64_t value) {
  if (value < 1) throw InvalidArgument(message("Dlrm: ", what, " = ", value, " must be >= 1"));
}

void check_span(const char* what, std::size_t size, int64_t batch_size, int64_t per_example) {
  if (static_cast<int64_t>(size) != batch_size * per_example)
    throw InvalidArgument(message("Dlrm: ", what, " has ", size, " values, expected ",
                                  batch_size * per_example, " (", per_example,
                                  " for each of batch_size ", batch_size, ")"));
}

}  // namespace

Dlrm::Dlrm(DlrmConfig config) : config_(std::move(config)) {
  if (config_.num_dense < 0)
    throw InvalidArgument(message("Dlrm: num_dense = ", config_.num_dense, " must be >= 0"));
  check_size("num_sparse", config_.num_sparse);
  check_size("embedding_dim", config_.embedding_dim);
  for (int64_t width : config_.bottom_mlp) check_size("bottom_mlp width", width);
  for (int64_t width : config_.top_mlp) check_size("top_mlp width", width);
  if (!has_bottom() && !config_.bottom_mlp.empty())
    throw InvalidArgument(
        "Dlrm: num_dense = 0 means no bottom MLP, but bottom_mlp has hidden "
        "widths");
  if (!has_bottom() && config_.num_sparse < 2)
    throw InvalidArgument(
        message("Dlrm: num_sparse = ", config_.num_sparse,
                " with num_dense = 0 leaves the interaction without a pair; it needs "
                "num_sparse >= 2"));

  int64_t offset = 0;
  auto add_layer = [&](int64_t in, int64_t out, bool relu) {
    layers_.push_back({in, out, offset, relu});
    offset += out * in + out;
  };
  int64_t width = config_.num_dense;
  for (int64_t hidden : config_.bottom_mlp) {
    add_layer(width, hidden, true);
    width = hidden;
  }
  if (has_bottom()) add_layer(width, config_.embedding_dim, true);
  num_bottom_layers_ = static_cast<int64_t>(layers_.size());
  width = interaction_width();
  for (int64_t hidden : config_.top_mlp) {
    add_layer(width, hidden, true);
    width = hidden;
  }
  add_layer(width, 1, false);

  parameters_.assign(offset, 0.0f);
  gradients_.assign(offset, 0.0f);
  for (const dense::Layer& layer : layers_) {
    const double bound = std::sqrt(1.0 / static_cast<double>(layer.in));
    for (int64_t i = 0; i < layer.out * layer.in; ++i) {
      const int64_t element = layer.offset + i;
      parameters_[element] = uniform_at(config_.seed, static_cast<uint64_t>(element), bound);
    }
  }
}

int64_t Dlrm::interaction_vectors() const { return config_.num_sparse + (has_bottom() ? 1 : 0); }

int64_t Dlrm::interaction_width() const {
  const int64_t vectors = interaction_vectors();
  return (has_bottom() ? config_.embedding_dim : 0) + vectors * (vectors - 1) / 2;
}

void Dlrm::zero_gradients() { std::fill(gradients_.begin(), gradients_.end(), 0.0f); }

void Dlrm::check_batch(std::span<const float> dense, std::span<const float> embeddings,
                       int64_t batch_size) const {
  if (batch_size < 0)
    throw InvalidArgument(message("Dlrm: batch_size = ", batch_size, " must be >= 0"));
  check_span("dense", dense.size(), batch_size, config_.num_dense);
  check_span("embeddings", embeddings.size(), batch_size,
             config_.num_sparse * config_.embedding_dim);
}

void Dlrm::check_training_batch(std::span<const float> dense, std::span<const float> embeddings,
                                std::span<const float> labels, int64_t batch_size, float loss_scale,
                                std::span<const float> embedding_grad) const {
  check_batch(dense, embeddings, batch_size);
  check_span("labels", labels.size(), batch_size, 1);
  check_span("embedding_grad", embedding_grad.size(), batch_size,
             config_.num_sparse * config_.embedding_dim);
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (!(labels[i] >= 0.0f && labels[i] <= 1.0f))
      throw InvalidArgument(
          message("Dlrm: label ", labels[i], " at position ", i, " is outside [0, 1]"));
  if (!std::isfinite(loss_scale))
    throw InvalidArgument(message("Dlrm: loss_scale = ", loss_scale, " must be finite"));
}

dense::ModelShape Dlrm::shape() const {
  return {.layers = layers_,
          .num_bottom_layers = num_bottom_layers_,
          .num_dense = config_.num_dense,
          .num_sparse = config_.num_sparse,
          .embedding_dim = config_.embedding_dim,
          .interaction_width = interaction_width(),
          .parameters = parameters_.data()};
}

double Dlrm::forward_backward(std::span<const float> dense, std::span<const float> embeddings,
                              std::span<const float> labels, int64_t batch_size, float loss_scale,
                              std::span<float> embedding_grad) {
  check_training_batch(dense, embeddings, labels, batch_size, loss_scale, embedding_grad);
  const BatchChunks chunks(batch_size);
  prepare_slots(chunks.slots());
  chunk_losses_.assign(chunks.chunks(), 0.0);
  const int64_t pooled_width = config_.num_sparse * config_.embedding_dim;
  const dense::ModelShape model = shape();
  const dense::ChunkKernels& kernels = dense::chunk_kernels();
  chunks.for_each([&](int64_t slot, int64_t index) {
    // A slot's first chunk clears its gradients, on the slot's own thread.
    if (index == slot) std::ranges::fill(slot_gradients_[slot], 0.0f);
    const ExampleRange range = chunks.range(index);
    const dense::ChunkInput chunk{range.count, dense.data() + range.first * config_.num_dense,
                                  embeddings.data() + range.first * pooled_width,
                                  labels.data() + range.first,
                                  embedding_grad.data() + range.first * pooled_width};
    chunk_losses_[index] = kernels.forward_backward(model, chunk, loss_scale, slot_buffers_[slot],
                                                    slot_gradients_[slot].data());
  });
  add_in_order(gradients_, std::span(slot_gradients_).first(chunks.slots()));
  double loss_sum = 0.0;
  for (double chunk_loss : chunk_losses_) loss_sum += chunk_loss;
  return loss_sum;
}

void Dlrm::prepare_slots(int64_t slots) {
  if (static_cast<int64_t>(slot_buffers_.size()) < slots) {
    slot_buffers_.resize(slots);
    slot_gradients_.resize(slots);
  }
  for (int64_t slot = 0; slot < slots; ++slot) {
    slot_buffers_[slot].reserve(shape(), BatchChunks::kChunkExamples);
    slot_gradients_[slot].resize(parameters_.size());
  }
}

std::vector<float> Dlrm::predict(std::span<const float> dense, std::span<const float> embeddings,
                                 int64_t batch_size) const {
  check_batch(dense, embeddings, batch_size);
  const BatchChunks chunks(batch_size);
  const dense::ModelShape model = shape();
  std::vector<dense::ChunkBuffers> slots(chunks.slots());
  for (dense::ChunkBuffers& buffers : slots) buffers.reserve(model, BatchChunks::kChunkExamples);
  std::vector<float> probabilities(batch_size);
  const int64_t pooled_width = config_.num_sparse * config_.embedding_dim;
  const dense::ChunkKernels& kernels = dense::chunk_kernels();
  chunks.for_each([&](int64_t slot, int64_t index) {
    const ExampleRange range = chunks.range(index);
    const dense::ChunkInput chunk{range.count, dense.data() + range.first * config_.num_dense,
                                  embeddings.data() + range.first * pooled_width, nullptr, nullptr};
    kernels.predict(model, chunk, slots[slot], probabilities.data() + range.first);
  });
  return probabilities;
}

}  // namespace rowshard
