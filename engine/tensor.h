// A dense fp32 array with a shape, row-major, owning its values. Outputs and
// gradients are returned as Tensors.
#pragma once

#include <vector>

#include "engine/lookup_input.h"

namespace rowshard {

struct Tensor {
  Shape shape;
  std::vector<float> values;
};

// The gradient of a table in PyTorch's sparse=True form, coalesced: each
// distinct looked-up row once, ascending, with its summed gradient.
struct SparseGradient {
  std::vector<int64_t> rows;
  std::vector<float> values;  // [rows.size(), dim]
  int64_t dim = 0;
};

}  // namespace rowshard
