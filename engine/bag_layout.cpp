#include "engine/bag_layout.h"

#include <algorithm>
#include <functional>
#include <numeric>
#include <sstream>

#include "rowshard/engine/error.h"

namespace rowshard {
namespace {

std::string shape_text(const Shape& shape) {
  std::ostringstream out;
  out << '[';
  for (std::size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << ']';
  return out.str();
}

std::vector<int64_t> bounds_from_offsets(std::string_view owner, std::span<const int64_t> offsets,
                                         int64_t num_indices, bool include_last_offset) {
  if (include_last_offset && offsets.empty())
    throw InvalidArgument(message(owner,
                                  ": include_last_offset needs at least one offset (the end of "
                                  "the last bag), got none"));
  if (!offsets.empty() && offsets[0] != 0)
    throw InvalidArgument(message(owner, ": offsets[0] must be 0, got ", offsets[0]));
  for (std::size_t b = 1; b < offsets.size(); ++b) {
    if (offsets[b] < offsets[b - 1])
      throw InvalidArgument(message(owner, ": offsets must not decrease, but offsets[", b, "] = ",
                                    offsets[b], " < offsets[", b - 1, "] = ", offsets[b - 1]));
  }
  // Offsets are non-decreasing from 0 now, so only the last can overshoot.
  if (!offsets.empty() && offsets.back() > num_indices)
    throw OutOfRange(message(owner, ": offset ", offsets.back(), " at position ",
                             offsets.size() - 1, " is past the end of the input; valid range [0, ",
                             num_indices, "]"));
  // PyTorch leaves trailing indices after the last offset undefined
  // (wrong sums, garbage gradients); refusing them is the only safe reading.
  if (include_last_offset && offsets.back() != num_indices)
    throw InvalidArgument(message(owner,
                                  ": with include_last_offset the last offset must be the number "
                                  "of indices, ",
                                  num_indices, ", got ", offsets.back()));
  std::vector<int64_t> bounds(offsets.begin(), offsets.end());
  if (!include_last_offset) bounds.push_back(num_indices);
  return bounds;
}

}  // namespace

int64_t element_count(const Shape& shape) {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>());
}

namespace {

[[noreturn]] void throw_first_out_of_range(std::string_view owner, std::span<const int64_t> indices,
                                           int64_t num_rows) {
  for (std::size_t position = 0; position < indices.size(); ++position) {
    // One unsigned compare catches negatives too.
    if (static_cast<uint64_t>(indices[position]) >= static_cast<uint64_t>(num_rows))
      throw OutOfRange(message(owner, ": index ", indices[position], " at position ", position,
                               " is out of range [0, ", num_rows, ")"));
  }
  ROWSHARD_ASSERT(false);  // called only when some index is out of range
}

// Ids per unit of the parallel check: below this many, threads cost more
// than they save.
constexpr int64_t kIdsPerBlock = int64_t{1} << 16;

// A step checks millions of ids: a vectorised, parallel maximum (as
// unsigned, so negatives count as huge) decides, and only an out-of-range
// maximum pays for the scan that finds the first offender. With kCopy the
// same pass copies the ids to `copy`.
template <bool kCopy>
void check_range(std::string_view owner, std::span<const int64_t> indices, int64_t num_rows,
                 int64_t* copy) {
  const auto count = static_cast<int64_t>(indices.size());
  const int64_t blocks = (count + kIdsPerBlock - 1) / kIdsPerBlock;
  uint64_t largest = 0;
#pragma omp parallel for reduction(max : largest) schedule(static) if (blocks > 1)
  for (int64_t block = 0; block < blocks; ++block) {
    const int64_t first = block * kIdsPerBlock;
    const auto ids = indices.subspan(first, std::min(kIdsPerBlock, count - first));
    largest = std::max(largest, largest_unsigned_id<kCopy>(ids, kCopy ? copy + first : nullptr));
  }
  if (count > 0 && largest >= static_cast<uint64_t>(num_rows))
    throw_first_out_of_range(owner, indices, num_rows);
}

}  // namespace

void check_indices_in_range(std::string_view owner, std::span<const int64_t> indices,
                            int64_t num_rows) {
  check_range<false>(owner, indices, num_rows, nullptr);
}

void copy_indices_in_range(std::string_view owner, std::span<const int64_t> indices,
                           int64_t num_rows, int64_t* copy) {
  check_range<true>(owner, indices, num_rows, copy);
}

void check_shape(std::string_view owner, std::string_view what, const Shape& actual,
                 const Shape& expected) {
  if (actual != expected)
    throw InvalidArgument(message(owner, ": ", what, " has shape ", shape_text(actual),
                                  ", expected ", shape_text(expected)));
}

void check_length(std::string_view owner, std::string_view what, std::size_t values,
                  int64_t expected) {
  if (static_cast<int64_t>(values) != expected)
    throw InvalidArgument(
        message(owner, ": ", what, " has ", values, " elements, expected ", expected));
}

std::vector<int64_t> bag_bounds(std::string_view owner, const BagInput& input,
                                bool include_last_offset) {
  for (int64_t extent : input.shape)
    if (extent < 0)
      throw InvalidArgument(
          message(owner, ": indices shape ", shape_text(input.shape), " has a negative extent"));
  check_length(owner, "indices", input.indices.size(), element_count(input.shape));
  const auto num_indices = static_cast<int64_t>(input.indices.size());

  if (input.per_sample_weights) {
    const Shape& weights_shape =
        input.per_sample_weights_shape.empty() ? input.shape : input.per_sample_weights_shape;
    check_shape(owner, "per_sample_weights", weights_shape, input.shape);
    check_length(owner, "per_sample_weights", input.per_sample_weights->size(), num_indices);
  }

  if (input.shape.size() == 2) {
    if (input.offsets)
      throw InvalidArgument(message(owner, ": offsets must not be given with 2-D indices of shape ",
                                    shape_text(input.shape), " (each row is a bag)"));
    const int64_t num_bags = input.shape[0];
    const int64_t bag_size = input.shape[1];
    std::vector<int64_t> bounds(num_bags + 1);
    for (int64_t b = 0; b <= num_bags; ++b) bounds[b] = b * bag_size;
    return bounds;
  }
  if (input.shape.size() != 1)
    throw InvalidArgument(message(owner,
                                  ": indices must be 1-D or 2-D, got "
                                  "shape ",
                                  shape_text(input.shape)));
  if (!input.offsets)
    throw InvalidArgument(message(owner, ": 1-D indices need offsets to mark the bags"));
  return bounds_from_offsets(owner, *input.offsets, num_indices, include_last_offset);
}

}  // namespace rowshard
