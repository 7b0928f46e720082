// Software prefetch of embedding rows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace rowshard::cpu {

// How far ahead of the entry being reduced a lookup kernel prefetches
// rows, in two hops: into L2 kFarPrefetchDistance entries ahead, then into
// L1 kNearPrefetchDistance ahead. A prefetch into L1 holds one of the
// core's few line-fill buffers until its line arrives from DRAM, so one hop
// far enough to cover the latency stalls on them; L2 needs them only
// briefly. Measured (random gathers of 2.6M rows out of 4M, 2 threads,
// interleaved, medians of 10): one hop at 32 entries against two at 64/16:
// 64-byte rows 0.022 against 0.020-0.022 s, 128-byte 0.028-0.030 against
// 0.023-0.025 s, 256-byte 0.073-0.077 against 0.055-0.061 s (a busy hour),
// 512-byte 0.185 against 0.153 s. Earlier (rowshard-bench, 4M x 64 f32, one
// hop): 4 ahead 53 ms, 16: 53 ms, 24: 41-48 ms, 32: 38-39 ms, 48: 41-42 ms;
// 4M x 128 two hops at 64/8: 0.110-0.116 s against 0.102-0.106 s at 64/16.
inline constexpr int64_t kFarPrefetchDistance = 64;
inline constexpr int64_t kNearPrefetchDistance = 16;

// How many rows ahead an optimizer update prefetches the row and its state.
// Updates walk rows in ascending order and do more work per row than a
// lookup, so fewer rows cover the latency.
inline constexpr int64_t kUpdatePrefetchDistance = 8;
// Rows of kTwoHopUpdateRowBytes and more also go to L2 this far ahead.
// Measured (row-wise Adagrad over 1.9M of 4M rows, fastest of 11 or 15):
// 4M x 128 f32, 0.186-0.193 s in one hop, 0.161-0.175 s in two;
// 4M x 64 f32, same run, interleaved: 0.046 s in one hop, 0.031-0.041 s in
// two (far 16-48, near 4-8 all alike).
inline constexpr std::size_t kTwoHopUpdateRowBytes = 256;
inline constexpr int64_t kFarUpdatePrefetchDistance = 32;

enum class CacheLevel { l1, l2 };

inline void prefetch_line(const char* line, CacheLevel level) {
#if defined(__x86_64__)
  // Not __builtin_prefetch: GCC 12 deletes a loop whose body is only
  // __builtin_prefetch calls when its trip count is a runtime value (a row's
  // bytes), as a loop without side effects. An asm volatile stays.
  if (level == CacheLevel::l1)
    asm volatile("prefetcht0 %0" : : "m"(*line));
  else
    asm volatile("prefetcht2 %0" : : "m"(*line));
#else
  if (level == CacheLevel::l1)
    __builtin_prefetch(line, 0, 3);
  else
    __builtin_prefetch(line, 0, 1);
#endif
}

// Brings every cache line of one row towards L1 (or only as far as L2).
inline void prefetch_row(const void* row, std::size_t row_bytes,
                         CacheLevel level = CacheLevel::l1) {
  const char* bytes = static_cast<const char*>(row);
  for (std::size_t offset = 0; offset < row_bytes; offset += 64)
    prefetch_line(bytes + offset, level);
}

// Prefetches for an optimizer about to update rows[i]: the rows ahead of
// it (row_of(r) is row r's address) and, through prefetch_state(r), their
// optimizer state.
template <typename RowOf, typename PrefetchState>
inline void prefetch_update_ahead(std::span<const int64_t> rows, std::size_t i,
                                  std::size_t row_bytes, RowOf&& row_of,
                                  PrefetchState&& prefetch_state) {
  const std::size_t far = i + kFarUpdatePrefetchDistance;
  if (row_bytes >= kTwoHopUpdateRowBytes && far < rows.size())
    prefetch_row(row_of(rows[far]), row_bytes, CacheLevel::l2);
  const std::size_t near = i + kUpdatePrefetchDistance;
  if (near < rows.size()) {
    prefetch_row(row_of(rows[near]), row_bytes);
    prefetch_state(rows[near]);
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

// Prefetches for a kernel about to reduce entry p of [0, end): the rows of
// the entries ahead of it, per the distances above. row_of(q) gives the
// address of entry q's row.
template <typename RowOf>
inline void prefetch_entries_ahead(int64_t p, int64_t end, std::size_t row_bytes, RowOf&& row_of) {
  if (p + kFarPrefetchDistance < end)
    prefetch_row(row_of(p + kFarPrefetchDistance), row_bytes, CacheLevel::l2);
  if (p + kNearPrefetchDistance < end) prefetch_row(row_of(p + kNearPrefetchDistance), row_bytes);
}

}  // namespace rowshard::cpu
