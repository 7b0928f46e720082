#include "engine/row_groups.h"

#include <bit>

namespace rowshard {
namespace {

constexpr int kDigitBits = 11;
constexpr int64_t kDigitValues = int64_t{1} << kDigitBits;

// Stable LSD radix sort of (row, position) pairs by row. Positions enter in
// ascending order and every pass is stable, so they leave ascending within
// each row. Only as many digits as num_rows needs are sorted.
void sort_by_row(std::vector<int64_t>& rows, std::vector<int64_t>& positions,
                 int64_t num_rows) {
  const int row_bits =
      num_rows <= 1 ? 0 : std::bit_width(static_cast<uint64_t>(num_rows - 1));
  std::vector<int64_t> rows_scratch(rows.size());
  std::vector<int64_t> positions_scratch(positions.size());
  std::vector<int64_t> digit_start(kDigitValues);
  for (int shift = 0; shift < row_bits; shift += kDigitBits) {
    std::fill(digit_start.begin(), digit_start.end(), 0);
    for (int64_t r : rows) ++digit_start[(r >> shift) & (kDigitValues - 1)];
    int64_t start = 0;
    for (int64_t& count : digit_start) {
      const int64_t digit_count = count;
      count = start;
      start += digit_count;
    }
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const int64_t slot = digit_start[(rows[i] >> shift) & (kDigitValues - 1)]++;
      rows_scratch[slot] = rows[i];
      positions_scratch[slot] = positions[i];
    }
    rows.swap(rows_scratch);
    positions.swap(positions_scratch);
  }
}

}  // namespace

RowGroups group_by_row(std::span<const int64_t> indices, int64_t num_rows,
                       int64_t padding_idx) {
  std::vector<int64_t> sorted_rows;
  RowGroups groups;
  sorted_rows.reserve(indices.size());
  groups.positions.reserve(indices.size());
  for (std::size_t p = 0; p < indices.size(); ++p) {
    if (indices[p] == padding_idx) continue;
    sorted_rows.push_back(indices[p]);
    groups.positions.push_back(static_cast<int64_t>(p));
  }
  sort_by_row(sorted_rows, groups.positions, num_rows);

  for (std::size_t i = 0; i < sorted_rows.size(); ++i) {
    if (i == 0 || sorted_rows[i] != sorted_rows[i - 1]) {
      groups.rows.push_back(sorted_rows[i]);
      groups.group_begin.push_back(static_cast<int64_t>(i));
    }
  }
  groups.group_begin.push_back(static_cast<int64_t>(sorted_rows.size()));
  return groups;
}

}  // namespace rowshard
