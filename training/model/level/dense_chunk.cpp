// The dense model's chunk kernels (training/model/dense_chunk.h), compiled
// once per CPU level: the build sets ROWSHARD_CPU_LEVEL_NS to the level's
// name and its instruction set flags.
#ifndef ROWSHARD_CPU_LEVEL_NS
#error "training/model/level/ is compiled once per CPU level; the build sets ROWSHARD_CPU_LEVEL_NS"
#endif

// Eigen would otherwise split its products across OpenMP threads (the engine
// links OpenMP), and a split changes the order of the sums and so the bits.
#define EIGEN_DONT_PARALLELIZE
// Each level's Eigen in a namespace of its own: Eigen's templates and inline
// functions are weak symbols, and the linker would otherwise keep one
// level's copy for every caller (an AVX-512 product on a CPU without it).
#define ROWSHARD_JOIN_NAMES(a, b) a##b
#define ROWSHARD_LEVEL_NAME(a, b) ROWSHARD_JOIN_NAMES(a, b)
#define Eigen ROWSHARD_LEVEL_NAME(rowshard_eigen_, ROWSHARD_CPU_LEVEL_NS)

#include "training/model/dense_chunk.h"

// GCC 12 sees the deliberately undefined vectors that its own AVX-512
// intrinsics (_mm512_unpacklo_ps and kin, which Eigen's packet code uses)
// start from as "maybe uninitialized"; the warning points into those headers.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
#pragma GCC diagnostic pop

#include <cmath>

namespace rowshard::dense::ROWSHARD_CPU_LEVEL_NS {
namespace {

using RowMajorMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixView = Eigen::Map<RowMajorMatrix>;
using ConstMatrixView = Eigen::Map<const RowMajorMatrix>;
using RowVectorView = Eigen::Map<Eigen::RowVectorXf>;
using ConstRowVectorView = Eigen::Map<const Eigen::RowVectorXf>;

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
  const double positive_part = logit > 0.0 ? logit : 0.0;
  return {positive_part - logit * label + std::log1p(std::exp(-std::fabs(logit))),
          sigmoid(logit) - label};
}

// The interaction of one example works on its vectors stacked as the rows of
// V [vectors, D] (x if there is one, then the pooled embeddings): the dots
// are the strict upper triangle of the Gram matrix V V^T, and their gradient
// is dV = (S + S^T) V with S holding each dot's gradient at (i, j). Small
// matrix products vectorise where pair-by-pair dots of D floats would not;
// they are lazy products, as Eigen's blocked path (packing both operands)
// costs more than a product this small.
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
  scratch.gram.noalias() = scratch.stacked.lazyProduct(scratch.stacked.transpose());
  const int64_t dim = scratch.stacked.cols();
  const int64_t vectors = scratch.stacked.rows();
  float* dots = z;
  if (x)
    for (int64_t d = 0; d < dim; ++d) *dots++ = x[d];
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
  scratch.stacked_grad.noalias() = scratch.gram.lazyProduct(scratch.stacked);
  if (x)
    for (int64_t d = 0; d < dim; ++d) x_grad[d] = z_grad[d] + scratch.stacked_grad(0, d);
  MatrixView(pooled_grad, scratch.num_pooled(x), dim) =
      scratch.stacked_grad.bottomRows(scratch.num_pooled(x));
}

// The chunk's layer outputs and z, into `buffers`.
void forward(const ModelShape& shape, const ChunkInput& chunk, ChunkBuffers& buffers) {
  const int64_t dim = shape.embedding_dim;
  const int64_t size = chunk.size;

  auto linear = [&](int64_t index, const float* input) {
    const Layer& layer = shape.layers[index];
    const ConstMatrixView x(input, size, layer.in);
    const ConstMatrixView weight(shape.parameters + layer.offset, layer.out, layer.in);
    const ConstRowVectorView bias(shape.parameters + layer.offset + layer.out * layer.in,
                                  layer.out);
    MatrixView y(buffers.outputs[index].data(), size, layer.out);
    y.noalias() = x * weight.transpose();
    y.rowwise() += bias;
    if (layer.relu) y = y.cwiseMax(0.0f);
  };

  const float* input = chunk.dense;
  for (int64_t k = 0; k < shape.num_bottom_layers; ++k) {
    linear(k, input);
    input = buffers.outputs[k].data();
  }

  InteractionScratch scratch(shape.interaction_vectors(), dim);
  for (int64_t b = 0; b < size; ++b)
    example_interaction_forward(shape.has_bottom() ? input + b * dim : nullptr,
                                chunk.embeddings + b * shape.num_sparse * dim, scratch,
                                buffers.interaction.data() + b * shape.interaction_width);

  input = buffers.interaction.data();
  for (int64_t k = shape.num_bottom_layers; k < static_cast<int64_t>(shape.layers.size()); ++k) {
    linear(k, input);
    input = buffers.outputs[k].data();
  }
}

// The phases of a chunk's backward. Each reads *grad as the gradient with
// respect to the output of what it goes back through and leaves there the
// gradient with respect to its input (*spare is the other buffer).
struct GradientBuffers {
  float* grad;
  float* spare;
  void swap() {
    float* former = grad;
    grad = spare;
    spare = former;
  }
};

// The gradient with respect to the logits, into g.grad; returns the sum of
// the losses.
double logit_backward(const ChunkInput& chunk, float loss_scale, const ChunkBuffers& buffers,
                      GradientBuffers& g) {
  const float* logits = buffers.logits();
  double loss_sum = 0.0;
  for (int64_t b = 0; b < chunk.size; ++b) {
    const LogitLoss example = binary_cross_entropy(logits[b], chunk.labels[b]);
    loss_sum += example.loss;
    g.grad[b] = static_cast<float>(example.gradient * loss_scale);
  }
  return loss_sum;
}

void linear_backward(const ModelShape& shape, int64_t index, int64_t size, const float* input,
                     const ChunkBuffers& buffers, GradientBuffers& g, float* gradients) {
  const Layer& layer = shape.layers[index];
  MatrixView grad(g.grad, size, layer.out);
  if (layer.relu) {
    const ConstMatrixView output(buffers.outputs[index].data(), size, layer.out);
    grad = (output.array() > 0.0f).select(grad, 0.0f);
  }
  const ConstMatrixView x(input, size, layer.in);
  MatrixView weight_grad(gradients + layer.offset, layer.out, layer.in);
  RowVectorView bias_grad(gradients + layer.offset + layer.out * layer.in, layer.out);
  weight_grad.noalias() += grad.transpose() * x;
  // Row by row: contiguous, vectorised adds (a column-wise sum of a
  // row-major matrix strides through memory one float at a time).
  for (int64_t b = 0; b < size; ++b) bias_grad += grad.row(b);
  // The first bottom layer's input is the data, whose gradient nobody needs.
  if (index == 0 && shape.has_bottom()) return;
  const ConstMatrixView weight(shape.parameters + layer.offset, layer.out, layer.in);
  MatrixView(g.spare, size, layer.in).noalias() = grad * weight;
  g.swap();
}

// Splits d/dz [chunk, z_width] into d/dx (left in g.grad) and
// d/d(embeddings) (into the chunk's embedding_grad).
void interaction_backward(const ModelShape& shape, const ChunkInput& chunk,
                          const ChunkBuffers& buffers, GradientBuffers& g) {
  const int64_t dim = shape.embedding_dim;
  const int64_t pooled_width = shape.num_sparse * dim;
  const float* bottom =
      shape.has_bottom() ? buffers.outputs[shape.num_bottom_layers - 1].data() : nullptr;
  InteractionScratch scratch(shape.interaction_vectors(), dim);
  for (int64_t b = 0; b < chunk.size; ++b)
    example_interaction_backward(
        bottom ? bottom + b * dim : nullptr, chunk.embeddings + b * pooled_width,
        g.grad + b * shape.interaction_width, scratch, bottom ? g.spare + b * dim : nullptr,
        chunk.embedding_grad + b * pooled_width);
  g.swap();
}

double forward_backward(const ModelShape& shape, const ChunkInput& chunk, float loss_scale,
                        ChunkBuffers& buffers, float* gradients) {
  forward(shape, chunk, buffers);
  GradientBuffers g{buffers.output_grad.data(), buffers.input_grad.data()};
  const double loss_sum = logit_backward(chunk, loss_scale, buffers, g);
  const auto num_layers = static_cast<int64_t>(shape.layers.size());
  for (int64_t k = num_layers - 1; k >= shape.num_bottom_layers; --k)
    linear_backward(
        shape, k, chunk.size,
        k == shape.num_bottom_layers ? buffers.interaction.data() : buffers.outputs[k - 1].data(),
        buffers, g, gradients);
  interaction_backward(shape, chunk, buffers, g);
  for (int64_t k = shape.num_bottom_layers - 1; k >= 0; --k)
    linear_backward(shape, k, chunk.size, k == 0 ? chunk.dense : buffers.outputs[k - 1].data(),
                    buffers, g, gradients);
  return loss_sum;
}

void predict(const ModelShape& shape, const ChunkInput& chunk, ChunkBuffers& buffers,
             float* probabilities) {
  forward(shape, chunk, buffers);
  const float* logits = buffers.logits();
  for (int64_t b = 0; b < chunk.size; ++b)
    probabilities[b] = static_cast<float>(sigmoid(logits[b]));
}

}  // namespace

extern const ChunkKernels kChunkKernels;
const ChunkKernels kChunkKernels = {
    .forward_backward = &forward_backward,
    .predict = &predict,
};

}  // namespace rowshard::dense::ROWSHARD_CPU_LEVEL_NS
