// One chunk of a batch through the dense model (dlrm.h): the part of a
// training step whose speed depends on the instruction set. Like the
// engine's kernels (rowshard/engine/cpu_level.h) it is compiled once per CPU
// level (training/model/level/dense_chunk.cpp), and the level in use,
// rowshard::cpu_level(), picks the copy. Unlike theirs, its results may
// differ in the last bits from one level to another: Eigen's products add in
// an order that depends on the vector width, and use fused multiply-adds
// where the level has them. On one level they depend on nothing else, so the
// thread count still changes no bit.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace rowshard::dense {

struct Layer {
  int64_t in;
  int64_t out;
  int64_t offset;  // of W in the flat arrays; b follows at offset + out*in
  bool relu;
};

// What the chunk kernels read of a Dlrm.
struct ModelShape {
  std::span<const Layer> layers;  // bottom layers (if any), then top layers
  int64_t num_bottom_layers;
  int64_t num_dense;
  int64_t num_sparse;
  int64_t embedding_dim;
  int64_t interaction_width;
  const float* parameters;

  bool has_bottom() const { return num_dense > 0; }
  // The vectors the interaction dots: x (if there is one) and the pooled
  // embeddings.
  int64_t interaction_vectors() const { return num_sparse + (has_bottom() ? 1 : 0); }
};

// Examples [0, size) of a chunk, laid out as Dlrm::forward_backward's
// arguments. labels and embedding_grad are for training only.
struct ChunkInput {
  int64_t size;
  const float* dense;
  const float* embeddings;
  const float* labels;
  float* embedding_grad;
};

// A chunk's scratch, sized by reserve() for the largest chunk: the kernels
// only write into it (resizing a std::vector from a level's code would emit
// a weak copy of std::vector's code built for that level).
struct ChunkBuffers {
  std::vector<std::vector<float>> outputs;  // each layer's [chunk, out], post-ReLU
  std::vector<float> interaction;           // z [chunk, interaction_width]
  std::vector<float> output_grad;           // [chunk, the widest layer input or output]
  std::vector<float> input_grad;            // as output_grad

  void reserve(const ModelShape& shape, int64_t examples);
  // The logits of the last forward, one per example.
  const float* logits() const { return outputs.back().data(); }
};

struct ChunkKernels {
  // The forward, then the backward of (sum of the chunk's losses) *
  // loss_scale: adds the parameter gradients to `gradients` (laid out as the
  // parameters), overwrites chunk.embedding_grad and returns the sum of the
  // losses.
  double (*forward_backward)(const ModelShape& shape, const ChunkInput& chunk, float loss_scale,
                             ChunkBuffers& buffers, float* gradients);
  // The forward alone: sigmoid(logit) of each example, into probabilities.
  void (*predict)(const ModelShape& shape, const ChunkInput& chunk, ChunkBuffers& buffers,
                  float* probabilities);
};

// The kernels of the level in use (rowshard::cpu_level()).
const ChunkKernels& chunk_kernels();

// Each level's kernels, defined by that level's compilation of
// training/model/level/dense_chunk.cpp.
namespace baseline {
extern const ChunkKernels kChunkKernels;
}
namespace avx2 {
extern const ChunkKernels kChunkKernels;
}
namespace avx512 {
extern const ChunkKernels kChunkKernels;
}

}  // namespace rowshard::dense
