// Where a table's gradient comes from: the bags of one lookup and their
// upstream gradient. A table's backward sums each row's entries over all
// its sources in order (the features of a collection that share the table).
#pragma once

#include <cstdint>

#include "rowshard/engine/pooling.h"

namespace rowshard {

// One lookup's share of a table's gradient: its bags, and where their
// upstream gradient (and, in max mode, their winning positions) are. A
// collection passes one source per feature of a table; a lone table one.
struct GradientSource {
  PooledBatch batch;
  const float* grad_output = nullptr;      // bag b at grad_output + b * stride
  const int64_t* max_positions = nullptr;  // same layout; max mode only
  int64_t stride = 0;
  // Mean mode: each bag's entry count to divide by, when this batch holds
  // only part of its bags (a shard's share); nullptr counts the batch's own
  // non-padding entries.
  const int64_t* entries_per_bag = nullptr;
};

}  // namespace rowshard
