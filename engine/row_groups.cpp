#include "engine/row_groups.h"

#include <omp.h>

#include <algorithm>
#include <bit>
#include <limits>

#include "rowshard/engine/error.h"

namespace rowshard {
namespace {

constexpr int kDigitBits = 11;
constexpr int64_t kDigitValues = int64_t{1} << kDigitBits;

// One stable counting-sort pass by the digit at `shift`, in parallel: each
// thread counts, then scatters, one contiguous slice of the input. Slice t's
// items with digit d land after every smaller digit and after slices < t
// with digit d, which is exactly the stable order, so the result does not
// depend on the number of threads.
template <typename Key>
void radix_pass(const std::vector<Key>& keys, const std::vector<uint32_t>& values,
                std::vector<Key>& sorted_keys, std::vector<uint32_t>& sorted_values, int shift) {
  const auto count = static_cast<int64_t>(keys.size());
  const int threads = omp_get_max_threads();
  std::vector<int64_t> slot(static_cast<std::size_t>(threads) * kDigitValues, 0);
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    const int64_t first = count * t / threads;
    const int64_t end = count * (t + 1) / threads;
    int64_t* mine = &slot[static_cast<std::size_t>(t) * kDigitValues];
    for (int64_t i = first; i < end; ++i) ++mine[(keys[i] >> shift) & (kDigitValues - 1)];
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

// Keys as narrow as the row count allows: half the memory traffic per pass.
template <typename Key>
RowGroups sort_into_groups(std::span<const int64_t> entry_rows, int64_t num_rows) {
  const std::size_t count = entry_rows.size();
  std::vector<Key> keys(count), keys_scratch(count);
  RowGroups groups;
  groups.order.resize(count);
  std::vector<uint32_t> order_scratch(count);
#pragma omp parallel for schedule(static)
  for (std::size_t e = 0; e < count; ++e) {
    keys[e] = static_cast<Key>(entry_rows[e]);
    groups.order[e] = static_cast<uint32_t>(e);
  }
  // Entries enter ascending and every pass is stable, so they leave
  // ascending within each row. Only the digits num_rows needs are sorted.
  const int row_bits = num_rows <= 1 ? 0 : std::bit_width(static_cast<uint64_t>(num_rows - 1));
  for (int shift = 0; shift < row_bits; shift += kDigitBits) {
    radix_pass(keys, groups.order, keys_scratch, order_scratch, shift);
    keys.swap(keys_scratch);
    groups.order.swap(order_scratch);
  }
  for (std::size_t i = 0; i < count; ++i) {
    if (i == 0 || keys[i] != keys[i - 1]) {
      groups.rows.push_back(static_cast<int64_t>(keys[i]));
      groups.group_begin.push_back(static_cast<int64_t>(i));
    }
  }
  groups.group_begin.push_back(static_cast<int64_t>(count));
  return groups;
}

}  // namespace

RowGroups group_by_row(std::span<const int64_t> entry_rows, int64_t num_rows) {
  ROWSHARD_ASSERT(entry_rows.size() < std::numeric_limits<uint32_t>::max());
  if (num_rows <= int64_t{1} << 32) return sort_into_groups<uint32_t>(entry_rows, num_rows);
  return sort_into_groups<uint64_t>(entry_rows, num_rows);
}

}  // namespace rowshard
