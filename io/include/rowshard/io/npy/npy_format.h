// The NumPy .npy format (versions 1.0, 2.0 and 3.0), as NumPy writes it:
//
//   "\x93NUMPY" major minor  header_len (uint16 LE for 1.0, uint32 LE after)
//   header: a Python dict literal, e.g.
//     {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
//   padded with spaces and a final '\n' so the data starts 64-byte aligned,
//   then the array's bytes.
//
// Only little-endian (or byte-order-free) numeric arrays in C order are
// accepted; anything else is refused with a message that says why.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "rowshard/engine/dtype.h"
#include "rowshard/engine/lookup_input.h"

namespace rowshard::npy {

enum class ElementType { float32, float16, int64, int32 };

std::size_t element_size(ElementType type);
std::string_view descr_of(ElementType type);  // "<f4", "<f2", "<i8", "<i4"

// The table dtype an array of `type` holds, if any; the npy type of a table
// of `dtype`, if npy has one (it has no bfloat16).
std::optional<DType> table_dtype(ElementType type);
std::optional<ElementType> element_type_of(DType dtype);

struct Header {
  ElementType type;
  Shape shape;
  std::size_t data_offset = 0;  // where the array's bytes start
  std::size_t data_bytes = 0;   // element_count(shape) * element_size(type)
};

// Parses and checks the header at the start of a file of `file_size` bytes
// whose first bytes are `prefix` (at least the whole header, or the whole
// file if shorter). Throws CorruptData naming `file_name` and the field for
// a bad magic, version, header or a file whose size disagrees with the
// shape, and InvalidArgument for a valid file this reader does not take
// (Fortran order, an unsupported dtype).
Header parse_header(std::span<const std::byte> prefix, std::size_t file_size,
                    std::string_view file_name);

// The bytes of a version 1.0 header (version 2.0 for headers too long for
// it) for a C-order array, padded so the data that follows is 64-aligned.
std::string format_header(ElementType type, const Shape& shape);

}  // namespace rowshard::npy
