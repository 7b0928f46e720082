#include "rowshard/io/safetensors/safetensors_file.h"

#include <algorithm>
#include <cstring>
#include <fstream>

#include "rowshard/engine/element_types.h"
#include "rowshard/engine/error.h"

namespace rowshard::safetensors {
namespace {

// A model can have thousands of tensors; a message lists this many.
constexpr std::size_t kMaxNamesListed = 20;

struct OpenFile {
  std::ifstream stream;
  std::size_t size = 0;
};

OpenFile open_for_reading(const std::string& path) {
  OpenFile file{std::ifstream(path, std::ios::binary | std::ios::ate)};
  if (!file.stream) throw IoError(message("cannot open '", path, "' for reading"));
  const std::streamoff size = file.stream.tellg();
  if (size < 0) throw IoError(message("cannot read the size of '", path, "'"));
  file.size = static_cast<std::size_t>(size);
  return file;
}

// Appends bytes [offset, offset + count) of the file to `bytes`.
void append_bytes(OpenFile& file, std::size_t offset, std::size_t count, const std::string& path,
                  std::vector<std::byte>& bytes) {
  if (count == 0) return;
  const std::size_t old_size = bytes.size();
  bytes.resize(old_size + count);
  file.stream.seekg(static_cast<std::streamoff>(offset));
  file.stream.read(reinterpret_cast<char*>(bytes.data() + old_size),
                   static_cast<std::streamsize>(count));
  if (!file.stream)
    throw IoError(
        message("cannot read bytes [", offset, ", ", offset + count, ") of '", path, "'"));
}

Header read_header(OpenFile& file, const std::string& path) {
  std::vector<std::byte> prefix;
  append_bytes(file, 0, std::min(file.size, kSizeFieldBytes), path, prefix);
  const std::size_t needed = header_prefix_size(prefix, file.size);
  append_bytes(file, prefix.size(), needed - prefix.size(), path, prefix);
  return parse_header(prefix, file.size, path);
}

const TensorEntry& find_tensor(const Header& header, std::string_view name,
                               const std::string& path) {
  const auto found = std::ranges::find(header.tensors, name, &TensorEntry::name);
  if (found != header.tensors.end()) return *found;
  std::string names;
  for (std::size_t i = 0; i < std::min(header.tensors.size(), kMaxNamesListed); ++i)
    names += message(i ? ", '" : "'", header.tensors[i].name, "'");
  if (header.tensors.size() > kMaxNamesListed)
    names += message(" and ", header.tensors.size() - kMaxNamesListed, " more");
  throw InvalidArgument(message("safetensors file '", path, "': no tensor named '", name,
                                "'; it has ", names.empty() ? std::string("none") : names));
}

template <typename Stored>
std::vector<float> widen(std::span<const std::byte> bytes) {
  std::vector<float> values(bytes.size() / sizeof(Stored));
  for (std::size_t i = 0; i < values.size(); ++i) {
    Stored value;
    std::memcpy(&value, bytes.data() + i * sizeof(Stored), sizeof(Stored));
    values[i] = to_float(value);
  }
  return values;
}

}  // namespace

void write(const std::string& path, std::span<const NamedTensor> tensors,
           const std::map<std::string, std::string>& metadata) {
  std::vector<TensorDescription> descriptions;
  descriptions.reserve(tensors.size());
  for (const NamedTensor& tensor : tensors)
    descriptions.push_back({tensor.name, tensor.type, tensor.shape});
  // format_header has checked every shape, so byte_size has a value.
  const std::string header = format_header(descriptions, metadata, path);
  for (const NamedTensor& tensor : tensors) {
    const std::size_t expected = *byte_size(tensor.type, tensor.shape);
    if (tensor.bytes.size() != expected)
      throw InvalidArgument(message("safetensors file '", path, "': tensor '", tensor.name, "' (",
                                    expected / element_size(tensor.type), " elements of ",
                                    dtype_name(tensor.type), ") needs ", expected,
                                    " bytes but was given ", tensor.bytes.size()));
  }

  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) throw IoError(message("cannot open '", path, "' for writing"));
  file.write(header.data(), static_cast<std::streamsize>(header.size()));
  for (const NamedTensor& tensor : tensors)
    if (!tensor.bytes.empty())
      file.write(reinterpret_cast<const char*>(tensor.bytes.data()),
                 static_cast<std::streamsize>(tensor.bytes.size()));
  if (!file.flush()) throw IoError(message("cannot write '", path, "'"));
}

Header read_header(const std::string& path) {
  OpenFile file = open_for_reading(path);
  return read_header(file, path);
}

std::vector<float> read_floats(const std::string& path, std::string_view tensor_name,
                               Shape* shape) {
  OpenFile file = open_for_reading(path);
  const Header header = read_header(file, path);
  const TensorEntry& tensor = find_tensor(header, tensor_name, path);
  std::vector<float> (*const widen_from_file_type)(std::span<const std::byte>) =
      tensor.type == TensorType::f32    ? &widen<float>
      : tensor.type == TensorType::f16  ? &widen<Float16>
      : tensor.type == TensorType::bf16 ? &widen<BFloat16>
                                        : nullptr;
  if (!widen_from_file_type)
    throw InvalidArgument(message("safetensors file '", path, "': tensor '", tensor.name,
                                  "' holds ", dtype_name(tensor.type),
                                  ", expected F32, F16 or BF16"));
  std::vector<std::byte> bytes;
  append_bytes(file, tensor.data_begin, tensor.data_end - tensor.data_begin, path, bytes);
  if (shape) *shape = tensor.shape;
  return widen_from_file_type(bytes);
}

}  // namespace rowshard::safetensors
