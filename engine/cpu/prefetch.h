// Software prefetch of embedding rows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace rowshard::cpu {

// How far ahead of the entry being reduced a lookup kernel prefetches rows
// into L1, in one hop. (Earlier sessions measured a second hop, into L2
// further ahead, as a gain; on the AMD EPYC the targets are measured on,
// that hop's extra prefetch instructions cost more than they hide: see
// BENCHMARKS.md, "One prefetch hop".)
inline constexpr int64_t kLookupPrefetchDistance = 16;

// How many rows ahead an optimizer update prefetches the row and its state.
// Updates walk rows in ascending order and do more work per row than a
// lookup, so fewer rows cover the latency.
inline constexpr int64_t kUpdatePrefetchDistance = 8;

inline void prefetch_line(const char* line) {
#if defined(__x86_64__)
  // Not __builtin_prefetch: GCC 12 deletes a loop whose body is only
  // __builtin_prefetch calls when its trip count is a runtime value (a row's
  // bytes), as a loop without side effects. An asm volatile stays.
  asm volatile("prefetcht0 %0" : : "m"(*line));
#else
  __builtin_prefetch(line, 0, 3);
#endif
}

// Brings every cache line of one row into L1.
inline void prefetch_row(const void* row, std::size_t row_bytes) {
  const char* bytes = static_cast<const char*>(row);
  for (std::size_t offset = 0; offset < row_bytes; offset += 64) prefetch_line(bytes + offset);
}

// Prefetches for an optimizer about to update rows[i]: the rows ahead of
// it (row_of(r) is row r's address) and, through prefetch_state(r), their
// optimizer state.
template <typename RowOf, typename PrefetchState>
inline void prefetch_update_ahead(std::span<const int64_t> rows, std::size_t i,
                                  std::size_t row_bytes, RowOf&& row_of,
                                  PrefetchState&& prefetch_state) {
  const std::size_t ahead = i + kUpdatePrefetchDistance;
  if (ahead < rows.size()) {
    prefetch_row(row_of(rows[ahead]), row_bytes);
    prefetch_state(rows[ahead]);
  }
}

// Asks for `line` in L1, ready to be written.
inline void prefetch_for_write(const void* line) {
#if defined(__x86_64__)
  asm volatile("prefetchw %0" : : "m"(*static_cast<const char*>(line)));
#else
  __builtin_prefetch(line, 1, 3);
#endif
}

// Prefetches for a kernel about to reduce entry p of [0, end): the row of
// the entry kLookupPrefetchDistance ahead of it. row_of(q) gives the address
// of entry q's row.
template <typename RowOf>
inline void prefetch_entries_ahead(int64_t p, int64_t end, std::size_t row_bytes, RowOf&& row_of) {
  if (p + kLookupPrefetchDistance < end)
    prefetch_row(row_of(p + kLookupPrefetchDistance), row_bytes);
}

}  // namespace rowshard::cpu
