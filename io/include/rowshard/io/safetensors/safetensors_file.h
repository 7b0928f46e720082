// Reading and writing safetensors files (see safetensors_format.h). Readers
// take only the bytes they need: the header, then the one tensor asked for.
// For tensors too large to copy, map the file and use parse_header() on the
// mapping.
#pragma once

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rowshard/io/safetensors/safetensors_format.h"

namespace rowshard::safetensors {

// A tensor to write. `bytes` is borrowed for the call and holds
// element_count(shape) elements of `type`, C order, little-endian.
struct NamedTensor {
  std::string name;
  TensorType type;
  Shape shape;
  std::span<const std::byte> bytes;
};

// Writes `tensors` back to back, in the order given, with `metadata` as
// "__metadata__". Throws InvalidArgument naming the file and the tensor when
// a tensor's bytes do not match its shape and type, or what format_header
// throws, before the file is created; throws IoError when the file cannot
// be written (it may then be left partly written).
void write(const std::string& path, std::span<const NamedTensor> tensors,
           const std::map<std::string, std::string>& metadata = {});

// Reads and checks the header alone. Throws IoError when the file cannot be
// read, and what parse_header throws.
Header read_header(const std::string& path);

// Reads the tensor `tensor_name` as floats, F16 and BF16 widened exactly.
// When `shape` is not null it receives the tensor's shape. Throws
// InvalidArgument naming the tensor when the file has no tensor of that
// name (the message lists the names it has) or holds it as integers, and
// what read_header throws.
std::vector<float> read_floats(const std::string& path, std::string_view tensor_name,
                               Shape* shape = nullptr);

}  // namespace rowshard::safetensors
