// One table's share of a pooled lookup, as the backends' kernels take it.
#pragma once

#include <cstdint>

#include "rowshard/engine/pooling.h"
#include "rowshard/engine/row_storage.h"

namespace rowshard {

// One table's bags, pooled into rows of a possibly wider output: bag b's
// result goes to output[b * output_stride ... + dim), and in max mode its
// winning positions to max_positions at the same offsets. A collection
// writes each feature into its own column range of one [B, total_dim] array.
struct PoolingTask {
  const RowStorage* weights = nullptr;
  PooledBatch batch;
  float* output = nullptr;
  int64_t* max_positions = nullptr;  // max mode only
  int64_t output_stride = 0;
  // batch.indices have not been range-checked (the batch is otherwise
  // valid): the kernels check each id against the table's rows before
  // reading the row, which costs far less than a separate pass.
  bool unchecked_ids = false;
  // With unchecked_ids, where the checked ids are also copied to (position
  // p to id_copy[p]), for a lookup that keeps them for its backward.
  int64_t* id_copy = nullptr;
};

}  // namespace rowshard
