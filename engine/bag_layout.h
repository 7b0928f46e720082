// Validation of lookup inputs, shared by every table type.
//
// Each function checks one property of the input and throws a
// rowshard::Error subclass naming `owner` (e.g. "EmbeddingBag 'user_id'"),
// the offending value, its position and the valid range. None of them writes
// anything, so callers run them all before touching a table.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "rowshard/engine/lookup_input.h"

namespace rowshard {

// The largest of `ids` compared as unsigned, so that a negative id counts
// as huge (0 for none): all are in [0, rows) exactly when it is below rows.
// With kCopy, the same vectorised pass copies them to `copy`. Serial;
// callers split long spans over threads. Static: each file has its own
// copy, vectorised for its own instruction set (engine/cpu/level/).
template <bool kCopy>
static uint64_t largest_unsigned_id(std::span<const int64_t> ids, int64_t* copy) {
  uint64_t largest = 0;
  const auto count = static_cast<int64_t>(ids.size());
#pragma omp simd reduction(max : largest)
  for (int64_t i = 0; i < count; ++i) {
    if constexpr (kCopy) copy[i] = ids[i];
    largest = std::max(largest, static_cast<uint64_t>(ids[i]));
  }
  return largest;
}

// Throws OutOfRange for the first index outside [0, num_rows).
void check_indices_in_range(std::string_view owner, std::span<const int64_t> indices,
                            int64_t num_rows);

// check_indices_in_range and a copy of `indices` to `copy` (as long) in
// one parallel pass: a step's ids are read once, not twice. On error `copy`
// holds an unspecified part of them.
void copy_indices_in_range(std::string_view owner, std::span<const int64_t> indices,
                           int64_t num_rows, int64_t* copy);

// The bag boundaries of `input`: B + 1 non-decreasing positions into the
// flattened indices, bag b covering [bounds[b], bounds[b + 1]). Checks the
// input's form (rank, offsets present or not, offsets[0] == 0, offsets
// non-decreasing and within the input) and the per-sample weights' shape.
std::vector<int64_t> bag_bounds(std::string_view owner, const BagInput& input,
                                bool include_last_offset);

// Throws InvalidArgument unless `actual` equals `expected`; `what` names the
// array ("grad_output").
void check_shape(std::string_view owner, std::string_view what, const Shape& actual,
                 const Shape& expected);

// Throws InvalidArgument unless `values` holds exactly `expected` elements.
void check_length(std::string_view owner, std::string_view what, std::size_t values,
                  int64_t expected);

}  // namespace rowshard
