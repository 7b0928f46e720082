// The dense part of a DLRM click-through-rate model (Naumov et al., 2019):
// everything but the embedding tables, which live in the engine and arrive
// here already pooled.
//
//   Dlrm model({.num_dense = 13, .num_sparse = 26, .embedding_dim = 16,
//               .bottom_mlp = {64, 32}, .top_mlp = {128, 64}, .seed = 7});
//   std::vector<float> embedding_grad(batch * 26 * 16);
//   model.zero_gradients();
//   double loss_sum = model.forward_backward(dense, pooled, labels, batch,
//                                            1.0f / global_batch,
//                                            embedding_grad);
//   // all-reduce model.gradients(), step a DenseOptimizer on
//   // model.parameters(), hand embedding_grad back to the tables.
//
// For one example with dense features d [num_dense] and pooled embeddings
// e_0 .. e_{F-1} [D each] (F = num_sparse, D = embedding_dim):
//
//   x      = bottom(d)                       Linear+ReLU layers
//                                            num_dense -> bottom_mlp... -> D
//   v      = (x, e_0, ..., e_{F-1})          F + 1 vectors of length D
//   dots   = (v_i . v_j for i < j)           row-major pair order:
//                                            (0,1) (0,2) .. (0,F) (1,2) ..
//   z      = [x, dots]                       width D + (F + 1) F / 2
//   logit  = top(z)                          Linear+ReLU layers
//                                            -> top_mlp... -> 1, no ReLU on
//                                            the last (the logit)
//   p      = sigmoid(logit)
//   loss   = -(y log p + (1 - y) log(1 - p)), computed from the logit as
//            max(logit, 0) - logit * y + log1p(exp(-|logit|))
//
// With num_dense = 0 there is no bottom MLP and no x: v = (e_0, ..,
// e_{F-1}), F vectors, and z = dots, width F (F - 1) / 2 (so F >= 2).
//
// Each Linear is PyTorch's nn.Linear: out = in W^T + b with W [out, in].
// ReLU's gradient at exactly 0 is 0, as in PyTorch.
//
// Arithmetic is float. A batch is worked on in chunks of a fixed number of
// examples on the OpenMP threads, and the chunks' gradients and losses are
// added in a fixed order (training/model/batch_chunks.h; Eigen's own
// threading is off), so the same inputs give the same bits whatever the
// thread count. (Another CPU level, rowshard/engine/cpu_level.h, may round
// differently, see dense_chunk.h, and so may another batch size: it changes
// the chunks.)
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "training/model/dense_chunk.h"

namespace rowshard {

struct DlrmConfig {
  int64_t num_dense = 0;      // dense features per example; 0: no bottom MLP
  int64_t num_sparse = 0;     // pooled embeddings per example (F)
  int64_t embedding_dim = 0;  // D, the width of every pooled embedding
  // Hidden widths of the bottom MLP; its last layer, to embedding_dim, is
  // implied (so {} means a single layer num_dense -> embedding_dim). Empty
  // when num_dense is 0.
  std::vector<int64_t> bottom_mlp{};
  // Hidden widths of the top MLP; its last layer, to 1 logit, is implied.
  std::vector<int64_t> top_mlp{};
  uint64_t seed = 0;  // of the initial weights
};

class Dlrm {
 public:
  // A model with weights drawn uniform(-1/sqrt(fan_in), +1/sqrt(fan_in))
  // (nn.Linear's default bound) by a counter-based generator: the weight at
  // flat index i of parameters() depends only on (config.seed, i), so the
  // same config gives the same bits on every rank (the numbers are not
  // PyTorch's); biases are 0. Throws InvalidArgument if num_sparse,
  // embedding_dim or any hidden width is < 1, num_dense is < 0, or num_dense
  // is 0 with bottom_mlp not empty or num_sparse < 2.
  explicit Dlrm(DlrmConfig config);

  // The math of one training step on a local batch of `batch_size` examples:
  //   dense          [batch_size, num_dense]            row-major
  //   embeddings     [batch_size, num_sparse * D]       feature f at columns
  //                                                     f*D .. f*D+D-1
  //   labels         [batch_size]                       in [0, 1]
  //   embedding_grad [batch_size, num_sparse * D]       output
  // Returns the sum of the examples' losses (in double). Adds the gradient
  // of (sum of losses) * loss_scale with respect to the parameters to
  // gradients() (call zero_gradients() to start afresh) and overwrites
  // embedding_grad with the gradient of the same quantity with respect to
  // `embeddings`. loss_scale is typically 1 / (global batch size over all
  // ranks), so that after the gradients are all-reduced (summed) they are
  // those of the global mean loss.
  //
  // batch_size 0 is allowed and changes nothing. Throws InvalidArgument,
  // before writing anything, if a span's size disagrees with batch_size, a
  // label is outside [0, 1] or loss_scale is not finite. Runs on the OpenMP
  // threads. Not thread-safe: it uses the model's scratch buffers.
  double forward_backward(std::span<const float> dense, std::span<const float> embeddings,
                          std::span<const float> labels, int64_t batch_size, float loss_scale,
                          std::span<float> embedding_grad);

  // Click probabilities sigmoid(logit) [batch_size] for evaluation; dense
  // and embeddings are as for forward_backward. Throws InvalidArgument for
  // mismatched sizes. Runs on the OpenMP threads. Safe to call from several
  // threads at once (as long as nothing writes the parameters meanwhile).
  std::vector<float> predict(std::span<const float> dense, std::span<const float> embeddings,
                             int64_t batch_size) const;

  // All weights and biases as one flat array, layer by layer from the first
  // bottom layer to the last top layer, each layer as W [out, in] row-major
  // then b [out] (the order of a PyTorch state_dict of the same model). It
  // is the model's own storage: all-reduce it, checkpoint it, let an
  // optimizer step it in place.
  std::span<float> parameters() { return parameters_; }
  std::span<const float> parameters() const { return parameters_; }
  // The accumulated gradient, in the layout of parameters().
  std::span<float> gradients() { return gradients_; }
  std::span<const float> gradients() const { return gradients_; }
  void zero_gradients();
  int64_t num_parameters() const { return static_cast<int64_t>(parameters_.size()); }

  const DlrmConfig& config() const { return config_; }
  // D + (F + 1) F / 2: the width of z, the top MLP's input (F (F - 1) / 2
  // without dense features).
  int64_t interaction_width() const;

 private:
  bool has_bottom() const { return config_.num_dense > 0; }
  // The vectors the interaction dots: x (if there is one) and the pooled
  // embeddings.
  int64_t interaction_vectors() const;
  // What the chunk kernels (dense_chunk.h) read of the model.
  dense::ModelShape shape() const;
  void check_batch(std::span<const float> dense, std::span<const float> embeddings,
                   int64_t batch_size) const;
  void check_training_batch(std::span<const float> dense, std::span<const float> embeddings,
                            std::span<const float> labels, int64_t batch_size, float loss_scale,
                            std::span<const float> embedding_grad) const;
  void prepare_slots(int64_t slots);

  DlrmConfig config_;
  std::vector<dense::Layer> layers_;  // bottom layers (if any), then top layers
  int64_t num_bottom_layers_;
  std::vector<float> parameters_;
  std::vector<float> gradients_;
  // forward_backward's state per gradient slot (its buffers, and the
  // gradients summed over its chunks) and per chunk (the sum of its losses).
  std::vector<dense::ChunkBuffers> slot_buffers_;
  std::vector<std::vector<float>> slot_gradients_;
  std::vector<double> chunk_losses_;
};

}  // namespace rowshard
