#include "engine/row_groups.h"

#include <omp.h>

#include <algorithm>
#include <bit>

namespace rowshard {
namespace {

constexpr int kDigitBits = 11;
constexpr int64_t kDigitValues = int64_t{1} << kDigitBits;

// One stable counting-sort pass by the digit at `shift`, in parallel: each
// thread counts, then scatters, one contiguous slice of the input. Slice t's
// items with digit d land after every smaller digit and after slices < t
// with digit d, which is exactly the stable order, so the result does not
// depend on the number of threads.
void radix_pass(const std::vector<int64_t>& keys, const std::vector<int64_t>& values,
                std::vector<int64_t>& sorted_keys, std::vector<int64_t>& sorted_values,
                int shift) {
  const auto count = static_cast<int64_t>(keys.size());
  const int threads = omp_get_max_threads();
  std::vector<int64_t> slot(static_cast<std::size_t>(threads) * kDigitValues, 0);
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    const int64_t first = count * t / threads;
    const int64_t end = count * (t + 1) / threads;
    int64_t* mine = &slot[static_cast<std::size_t>(t) * kDigitValues];
    for (int64_t i = first; i < end; ++i)
      ++mine[(keys[i] >> shift) & (kDigitValues - 1)];
#pragma omp barrier
#pragma omp single
    {
      int64_t start = 0;
      for (int64_t digit = 0; digit < kDigitValues; ++digit)
        for (int u = 0; u < threads; ++u) {
          int64_t& cell = slot[static_cast<std::size_t>(u) * kDigitValues + digit];
          const int64_t cell_count = cell;
          cell = start;
          start += cell_count;
        }
    }
    for (int64_t i = first; i < end; ++i) {
      const int64_t at = mine[(keys[i] >> shift) & (kDigitValues - 1)]++;
      sorted_keys[at] = keys[i];
      sorted_values[at] = values[i];
    }
  }
}

}  // namespace

RowGroups group_by_row(std::span<const int64_t> indices, int64_t num_rows,
                       int64_t padding_idx) {
  std::vector<int64_t> keys;
  RowGroups groups;
  keys.reserve(indices.size());
  groups.positions.reserve(indices.size());
  for (std::size_t p = 0; p < indices.size(); ++p) {
    if (indices[p] == padding_idx) continue;
    keys.push_back(indices[p]);
    groups.positions.push_back(static_cast<int64_t>(p));
  }

  // Positions enter ascending and every pass is stable, so they leave
  // ascending within each row. Only the digits num_rows needs are sorted.
  const int row_bits =
      num_rows <= 1 ? 0 : std::bit_width(static_cast<uint64_t>(num_rows - 1));
  std::vector<int64_t> keys_scratch(keys.size());
  std::vector<int64_t> positions_scratch(keys.size());
  for (int shift = 0; shift < row_bits; shift += kDigitBits) {
    radix_pass(keys, groups.positions, keys_scratch, positions_scratch, shift);
    keys.swap(keys_scratch);
    groups.positions.swap(positions_scratch);
  }

  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (i == 0 || keys[i] != keys[i - 1]) {
      groups.rows.push_back(keys[i]);
      groups.group_begin.push_back(static_cast<int64_t>(i));
    }
  }
  groups.group_begin.push_back(static_cast<int64_t>(keys.size()));
  return groups;
}

}  // namespace rowshard
