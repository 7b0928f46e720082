#include "training/model/dense_chunk.h"

#include <algorithm>

#include "engine/level_choice.h"

namespace rowshard::dense {

void ChunkBuffers::reserve(const ModelShape& shape, int64_t examples) {
  outputs.resize(shape.layers.size());
  int64_t widest = shape.interaction_width;
  for (std::size_t k = 0; k < shape.layers.size(); ++k) {
    outputs[k].resize(examples * shape.layers[k].out);
    widest = std::max({widest, shape.layers[k].in, shape.layers[k].out});
  }
  interaction.resize(examples * shape.interaction_width);
  output_grad.resize(examples * widest);
  input_grad.resize(examples * widest);
}

const ChunkKernels& chunk_kernels() {
  return of_cpu_level_in_use(baseline::kChunkKernels, avx2::kChunkKernels, avx512::kChunkKernels);
}

}  // namespace rowshard::dense
