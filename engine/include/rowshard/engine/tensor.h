// A dense fp32 array with a shape, row-major, owning its values. Outputs and
// gradients are returned as Tensors.
#pragma once

#include <vector>

#include "rowshard/engine/default_init_allocator.h"
#include "rowshard/engine/lookup_input.h"

namespace rowshard {

struct Tensor {
  Shape shape;
  // resize() leaves new values uninitialised: the kernels that fill an
  // output write every element, and zeroing tens of megabytes first would
  // cost a tenth of a lookup.
  std::vector<float, DefaultInitAllocator<float>> values;
};

// The gradient of a table in PyTorch's sparse=True form, coalesced: each
// distinct looked-up row once, ascending, with its summed gradient.
struct SparseGradient {
  std::vector<int64_t> rows;
  std::vector<float> values;  // [rows.size(), dim]
  int64_t dim = 0;
};

}  // namespace rowshard
