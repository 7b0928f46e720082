// Eigen would otherwise split its products across OpenMP threads (the engine
// links OpenMP), and a split changes the order of the sums and so the bits.
#define EIGEN_DONT_PARALLELIZE
#include "training/model/dlrm.h"

// GCC 12 sees the deliberately undefined vectors that its own AVX-512
// intrinsics (_mm512_unpacklo_ps and kin, which Eigen's packet code uses)
// start from as "maybe uninitialized"; the warning points into those headers.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
#pragma GCC diagnostic pop

#include <algorithm>
#include <cmath>
#include <utility>

#include "engine/counter_hash.h"
#include "rowshard/engine/error.h"
#include "training/model/batch_chunks.h"

namespace rowshard {
namespace {

using RowMajorMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixView = Eigen::Map<RowMajorMatrix>;
using ConstMatrixView = Eigen::Map<const RowMajorMatrix>;
using RowVectorView = Eigen::Map<Eigen::RowVectorXf>;
using ConstRowVectorView = Eigen::Map<const Eigen::RowVectorXf>;

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

// The loss and the gradient of one example's binary cross-entropy with
// respect to its logit, both stable for logits of any size.
struct LogitLoss {
  double loss;
  double gradient;  // sigmoid(logit) - label
};

// exp() only ever of a non-positive number, so it cannot overflow.
double sigmoid(double logit) {
  return logit >= 0 ? 1.0 / (1.0 + std::exp(-logit)) : std::exp(logit) / (1.0 + std::exp(logit));
}

LogitLoss binary_cross_entropy(double logit, double label) {
  return {std::max(logit, 0.0) - logit * label + std::log1p(std::exp(-std::fabs(logit))),
          sigmoid(logit) - label};
}

// The interaction of one example works on its vectors stacked as the rows of
// V [vectors, D] (x if there is one, then the pooled embeddings): the dots
// are the strict upper triangle of the Gram matrix V V^T, and their gradient
// is dV = (S + S^T) V with S holding each dot's gradient at (i, j). Small
// matrix products vectorise where pair-by-pair dots of D floats would not.
// Without dense features x is null and V holds the pooled embeddings alone.
struct InteractionScratch {
  InteractionScratch(int64_t vectors, int64_t dim)
      : stacked(vectors, dim), gram(vectors, vectors), stacked_grad(vectors, dim) {}

  void stack(const float* x, const float* pooled) {
    if (x) stacked.row(0) = ConstRowVectorView(x, stacked.cols());
    stacked.bottomRows(num_pooled(x)) = ConstMatrixView(pooled, num_pooled(x), stacked.cols());
  }
  int64_t num_pooled(const float* x) const { return stacked.rows() - (x ? 1 : 0); }

  RowMajorMatrix stacked;       // V
  RowMajorMatrix gram;          // V V^T, or S + S^T
  RowMajorMatrix stacked_grad;  // dV
};

// z = [x, dots] from x [D] and pooled [F, D]; z = dots when x is null.
void example_interaction_forward(const float* x, const float* pooled, InteractionScratch& scratch,
                                 float* z) {
  scratch.stack(x, pooled);
  scratch.gram.noalias() = scratch.stacked * scratch.stacked.transpose();
  const int64_t dim = scratch.stacked.cols();
  const int64_t vectors = scratch.stacked.rows();
  float* dots = x ? std::copy(x, x + dim, z) : z;
  for (int64_t i = 0; i < vectors; ++i)
    for (int64_t j = i + 1; j < vectors; ++j) *dots++ = scratch.gram(i, j);
}

// From z_grad [D + pairs]: x_grad [D] = z_grad[0, D) + dV row 0, and
// pooled_grad [F, D] = dV rows 1..F (overwritten). Without x (null), z_grad
// holds the pairs only, x_grad is not written and pooled_grad = dV.
void example_interaction_backward(const float* x, const float* pooled, const float* z_grad,
                                  InteractionScratch& scratch, float* x_grad, float* pooled_grad) {
  scratch.stack(x, pooled);
  const int64_t dim = scratch.stacked.cols();
  const int64_t vectors = scratch.stacked.rows();
  const float* dot_grad = x ? z_grad + dim : z_grad;
  for (int64_t i = 0; i < vectors; ++i) {
    scratch.gram(i, i) = 0.0f;
    for (int64_t j = i + 1; j < vectors; ++j) {
      scratch.gram(i, j) = *dot_grad;
      scratch.gram(j, i) = *dot_grad++;
    }
  }
  scratch.stacked_grad.noalias() = scratch.gram * scratch.stacked;
  if (x)
    for (int64_t d = 0; d < dim; ++d) x_grad[d] = z_grad[d] + scratch.stacked_grad(0, d);
  MatrixView(pooled_grad, scratch.num_pooled(x), dim) =
      scratch.stacked_grad.bottomRows(scratch.num_pooled(x));
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
  for (const Layer& layer : layers_) {
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

void Dlrm::forward(const float* dense, const float* embeddings, int64_t batch_size,
                   Activations& activations) const {
  const int64_t dim = config_.embedding_dim;
  const int64_t z_width = interaction_width();

  auto linear = [&](int64_t index, const float* input) {
    const Layer& layer = layers_[index];
    std::vector<float>& output = activations.outputs[index];
    output.resize(batch_size * layer.out);
    const ConstMatrixView x(input, batch_size, layer.in);
    const ConstMatrixView weight(parameters_.data() + layer.offset, layer.out, layer.in);
    const ConstRowVectorView bias(parameters_.data() + layer.offset + layer.out * layer.in,
                                  layer.out);
    MatrixView y(output.data(), batch_size, layer.out);
    y.noalias() = x * weight.transpose();
    y.rowwise() += bias;
    if (layer.relu) y = y.cwiseMax(0.0f);
  };

  const float* input = dense;
  for (int64_t k = 0; k < num_bottom_layers_; ++k) {
    linear(k, input);
    input = activations.outputs[k].data();
  }

  activations.interaction.resize(batch_size * z_width);
  InteractionScratch scratch(interaction_vectors(), dim);
  for (int64_t b = 0; b < batch_size; ++b)
    example_interaction_forward(has_bottom() ? input + b * dim : nullptr,
                                embeddings + b * config_.num_sparse * dim, scratch,
                                activations.interaction.data() + b * z_width);

  input = activations.interaction.data();
  for (int64_t k = num_bottom_layers_; k < static_cast<int64_t>(layers_.size()); ++k) {
    linear(k, input);
    input = activations.outputs[k].data();
  }
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

double Dlrm::forward_backward(std::span<const float> dense, std::span<const float> embeddings,
                              std::span<const float> labels, int64_t batch_size, float loss_scale,
                              std::span<float> embedding_grad) {
  check_training_batch(dense, embeddings, labels, batch_size, loss_scale, embedding_grad);
  const BatchChunks chunks(batch_size);
  prepare_slots(chunks.slots());
  chunk_losses_.assign(chunks.chunks(), 0.0);
  const int64_t pooled_width = config_.num_sparse * config_.embedding_dim;
  chunks.for_each([&](int64_t slot, int64_t index) {
    const ExampleRange range = chunks.range(index);
    const Chunk chunk{range.count, dense.data() + range.first * config_.num_dense,
                      embeddings.data() + range.first * pooled_width, labels.data() + range.first,
                      embedding_grad.data() + range.first * pooled_width};
    chunk_losses_[index] =
        chunk_forward_backward(chunk, loss_scale, slot_buffers_[slot], slot_gradients_[slot]);
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
    slot_buffers_[slot].activations.outputs.resize(layers_.size());
    slot_gradients_[slot].assign(parameters_.size(), 0.0f);
  }
}

double Dlrm::chunk_forward_backward(const Chunk& chunk, float loss_scale, ChunkBuffers& buffers,
                                    std::span<float> gradients) const {
  forward(chunk.dense, chunk.embeddings, chunk.size, buffers.activations);
  const double loss_sum = logit_backward(chunk, loss_scale, buffers);
  // The first bottom layer's input is the data, whose gradient nobody needs
  // (without a bottom MLP, layer 0 is the first top layer, whose input
  // gradient is z's).
  const std::vector<std::vector<float>>& outputs = buffers.activations.outputs;
  for (int64_t k = static_cast<int64_t>(layers_.size()) - 1; k >= num_bottom_layers_; --k)
    linear_backward(
        k, chunk.size,
        k == num_bottom_layers_ ? buffers.activations.interaction.data() : outputs[k - 1].data(),
        buffers, gradients);
  interaction_backward(chunk, buffers);
  for (int64_t k = num_bottom_layers_ - 1; k >= 0; --k)
    linear_backward(k, chunk.size, k == 0 ? chunk.dense : outputs[k - 1].data(), buffers,
                    gradients);
  return loss_sum;
}

double Dlrm::logit_backward(const Chunk& chunk, float loss_scale, ChunkBuffers& buffers) const {
  const std::vector<float>& logits = buffers.activations.outputs.back();
  double loss_sum = 0.0;
  buffers.output_grad.resize(chunk.size);
  for (int64_t b = 0; b < chunk.size; ++b) {
    const LogitLoss example = binary_cross_entropy(logits[b], chunk.labels[b]);
    loss_sum += example.loss;
    buffers.output_grad[b] = static_cast<float>(example.gradient * loss_scale);
  }
  return loss_sum;
}

void Dlrm::linear_backward(int64_t index, int64_t batch_size, const float* input,
                           ChunkBuffers& buffers, std::span<float> gradients) const {
  const Layer& layer = layers_[index];
  MatrixView grad(buffers.output_grad.data(), batch_size, layer.out);
  if (layer.relu) {
    const ConstMatrixView output(buffers.activations.outputs[index].data(), batch_size, layer.out);
    grad = (output.array() > 0.0f).select(grad, 0.0f);
  }
  const ConstMatrixView x(input, batch_size, layer.in);
  MatrixView weight_grad(gradients.data() + layer.offset, layer.out, layer.in);
  RowVectorView bias_grad(gradients.data() + layer.offset + layer.out * layer.in, layer.out);
  weight_grad.noalias() += grad.transpose() * x;
  // Row by row: contiguous, vectorised adds (a column-wise sum of a
  // row-major matrix strides through memory one float at a time).
  for (int64_t b = 0; b < batch_size; ++b) bias_grad += grad.row(b);
  if (index == 0 && has_bottom()) return;
  buffers.input_grad.resize(batch_size * layer.in);
  const ConstMatrixView weight(parameters_.data() + layer.offset, layer.out, layer.in);
  MatrixView(buffers.input_grad.data(), batch_size, layer.in).noalias() = grad * weight;
  std::swap(buffers.output_grad, buffers.input_grad);
}

// Splits d/dz [batch, z_width] into d/dx (left in output_grad) and
// d/d(embeddings) (into the chunk's embedding_grad).
void Dlrm::interaction_backward(const Chunk& chunk, ChunkBuffers& buffers) const {
  const int64_t dim = config_.embedding_dim;
  const int64_t pooled_width = config_.num_sparse * dim;
  const int64_t z_width = interaction_width();
  const float* bottom =
      has_bottom() ? buffers.activations.outputs[num_bottom_layers_ - 1].data() : nullptr;
  buffers.input_grad.resize(chunk.size * dim);
  InteractionScratch scratch(interaction_vectors(), dim);
  for (int64_t b = 0; b < chunk.size; ++b)
    example_interaction_backward(bottom ? bottom + b * dim : nullptr,
                                 chunk.embeddings + b * pooled_width,
                                 buffers.output_grad.data() + b * z_width, scratch,
                                 bottom ? buffers.input_grad.data() + b * dim : nullptr,
                                 chunk.embedding_grad + b * pooled_width);
  std::swap(buffers.output_grad, buffers.input_grad);
}

std::vector<float> Dlrm::predict(std::span<const float> dense, std::span<const float> embeddings,
                                 int64_t batch_size) const {
  check_batch(dense, embeddings, batch_size);
  const BatchChunks chunks(batch_size);
  std::vector<Activations> slots(chunks.slots());
  for (Activations& activations : slots) activations.outputs.resize(layers_.size());
  std::vector<float> probabilities(batch_size);
  const int64_t pooled_width = config_.num_sparse * config_.embedding_dim;
  chunks.for_each([&](int64_t slot, int64_t chunk) {
    const ExampleRange range = chunks.range(chunk);
    forward(dense.data() + range.first * config_.num_dense,
            embeddings.data() + range.first * pooled_width, range.count, slots[slot]);
    const std::vector<float>& logits = slots[slot].outputs.back();
    for (int64_t b = 0; b < range.count; ++b)
      probabilities[range.first + b] = static_cast<float>(sigmoid(logits[b]));
  });
  return probabilities;
}

}  // namespace rowshard
