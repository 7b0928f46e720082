// Grouping a batch's entries by the row they look up: the first half of
// every backward pass, and what lets it sum each row's gradient once without
// a dense [rows, dim] array and without atomics.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace rowshard {

// Group g is row rows[g], looked up at positions
// positions[group_begin[g] .. group_begin[g + 1]). Rows ascend; within a
// group positions ascend, which fixes the order each row's gradient is
// summed in, so results do not depend on threads.
struct RowGroups {
  std::vector<int64_t> rows;
  std::vector<int64_t> group_begin;  // rows.size() + 1 entries
  std::vector<int64_t> positions;

  int64_t num_groups() const { return static_cast<int64_t>(rows.size()); }
  int64_t group_size(int64_t g) const {
    return group_begin[g + 1] - group_begin[g];
  }
};

// Groups the positions of `indices` (all in [0, num_rows)) by row, leaving
// out entries equal to `padding_idx` (kNoPadding leaves out nothing).
RowGroups group_by_row(std::span<const int64_t> indices, int64_t num_rows,
                       int64_t padding_idx);

}  // namespace rowshard
