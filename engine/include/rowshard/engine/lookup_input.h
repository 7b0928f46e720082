// The inputs of a lookup, as non-owning views. The caller keeps the arrays
// alive for the duration of the call; nothing here is retained afterwards.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace rowshard {

// A row-major array's dimensions. An empty shape is a scalar (one element).
using Shape = std::vector<int64_t>;

int64_t element_count(const Shape& shape);

// Input to Embedding: indices of any shape; the output has shape + [dim].
struct IndexInput {
  std::span<const int64_t> indices{};
  Shape shape{};
};

// Input to EmbeddingBag, in one of PyTorch's two forms:
//  - 2-D indices of shape [B, L] and no offsets: B bags of L ids each;
//  - 1-D indices of shape [N] with offsets: bag b starts at offsets[b] and
//    ends where the next bag starts (or, with include_last_offset, the last
//    offset is the end of the last bag instead of a bag of its own).
// per_sample_weights, allowed in sum mode only, has the shape of indices and
// scales each looked-up row before it is added to its bag.
struct BagInput {
  std::span<const int64_t> indices{};
  Shape shape{};
  std::optional<std::span<const int64_t>> offsets{};
  std::optional<std::span<const float>> per_sample_weights{};
  // The shape of per_sample_weights; empty means "the same as indices".
  Shape per_sample_weights_shape{};
};

}  // namespace rowshard
