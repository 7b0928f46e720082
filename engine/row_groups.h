// Grouping a batch's entries by the row they look up: the first half of
// every backward pass, and what lets it sum each row's gradient once without
// a dense [rows, dim] array and without atomics.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace rowshard {

// Group g is row rows[g], looked up by the entries
// order[group_begin[g] .. group_begin[g + 1]). Rows ascend; within a group
// entries ascend, which fixes the order each row's gradient is summed in,
// so results do not depend on threads.
struct RowGroups {
  std::vector<int64_t> rows;
  std::vector<int64_t> group_begin;  // rows.size() + 1 entries
  std::vector<uint32_t> order;

  int64_t num_groups() const { return static_cast<int64_t>(rows.size()); }
};

// Groups entries by row: entry e looks up entry_rows[e], in [0, num_rows).
// At most 2^32 - 1 entries (one step's lookups on one process).
RowGroups group_by_row(std::span<const int64_t> entry_rows, int64_t num_rows);

}  // namespace rowshard
