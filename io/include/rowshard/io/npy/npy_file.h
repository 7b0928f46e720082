// Reading and writing whole .npy files (see npy_format.h). For arrays too
// large to copy, map the file and use parse_header() on the mapping.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "rowshard/io/npy/npy_format.h"

namespace rowshard::npy {

// A file's array, its bytes copied into memory.
struct Array {
  Header header;
  std::vector<std::byte> bytes;

  // The values, converted: float16 widens to float; any other mismatch
  // between the file's type and T throws InvalidArgument naming the file.
  template <typename T>
  std::vector<T> values(std::string_view file_name) const;
};

// Throws IoError when the file cannot be read, and what parse_header throws.
Array read(const std::string& path);

// Writes `data` (element_count(shape) elements of `type`) as a .npy file.
void write(const std::string& path, ElementType type, const Shape& shape, const void* data);

}  // namespace rowshard::npy
