// A 5 x 2 table with values chosen so that pooled results can be worked
// out by hand in the tests' comments.
#pragma once

#include <vector>

#include "rowshard/engine/row_storage.h"

namespace rowshard::testing {

//   row 0: [ 1.0,  2.0 ]
//   row 1: [ 3.0, -1.0 ]
//   row 2: [-2.0,  5.0 ]
//   row 3: [ 0.5,  0.25]
//   row 4: [ 4.0,  4.0 ]
inline const std::vector<float> kSmallTable = {1.0f, 2.0f, 3.0f,  -1.0f, -2.0f,
                                               5.0f, 0.5f, 0.25f, 4.0f,  4.0f};

inline RowStorage small_table() { return RowStorage::copy_of(kSmallTable, 5, 2); }

inline std::vector<float> table_values(const RowStorage& weights) {
  const float* first = weights.row<float>(0);
  return {first, first + weights.num_rows() * weights.dim()};
}

}  // namespace rowshard::testing
