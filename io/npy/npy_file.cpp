#include "rowshard/io/npy/npy_file.h"

#include <cstring>
#include <fstream>
#include <iterator>

#include "rowshard/engine/element_types.h"
#include "rowshard/engine/error.h"

namespace rowshard::npy {
namespace {

template <typename Stored>
Stored load(const std::byte* bytes) {
  Stored value;
  std::memcpy(&value, bytes, sizeof(Stored));
  return value;
}

}  // namespace

template <typename T>
std::vector<T> Array::values(std::string_view file_name) const {
  constexpr bool wants_float = std::is_same_v<T, float>;
  const bool stored_float =
      header.type == ElementType::float32 || header.type == ElementType::float16;
  if (wants_float != stored_float)
    throw InvalidArgument(message("npy file '", file_name, "': holds ", descr_of(header.type),
                                  ", expected ",
                                  wants_float ? "float32 or float16" : "int64 or int32"));
  const std::size_t count = header.data_bytes / element_size(header.type);
  std::vector<T> out(count);
  const std::byte* data = bytes.data() + header.data_offset;
  switch (header.type) {
    case ElementType::float16:
      for (std::size_t i = 0; i < count; ++i)
        out[i] = static_cast<T>(to_float(load<Float16>(data + 2 * i)));
      break;
    case ElementType::int32:
      for (std::size_t i = 0; i < count; ++i) out[i] = static_cast<T>(load<int32_t>(data + 4 * i));
      break;
    case ElementType::float32:
    case ElementType::int64:
      // Same type and width as T: the bytes are the values.
      if (count > 0) std::memcpy(out.data(), data, header.data_bytes);
      break;
  }
  return out;
}

template std::vector<float> Array::values<float>(std::string_view) const;
template std::vector<int64_t> Array::values<int64_t>(std::string_view) const;

Array read(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw IoError(message("cannot open '", path, "' for reading"));
  Array array;
  std::vector<char> chars((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (file.bad()) throw IoError(message("cannot read '", path, "'"));
  array.bytes.resize(chars.size());
  std::memcpy(array.bytes.data(), chars.data(), chars.size());
  array.header = parse_header(array.bytes, array.bytes.size(), path);
  return array;
}

void write(const std::string& path, ElementType type, const Shape& shape, const void* data) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) throw IoError(message("cannot open '", path, "' for writing"));
  const std::string header = format_header(type, shape);
  file.write(header.data(), static_cast<std::streamsize>(header.size()));
  file.write(static_cast<const char*>(data),
             static_cast<std::streamsize>(element_count(shape) * element_size(type)));
  if (!file.flush()) throw IoError(message("cannot write '", path, "'"));
}

}  // namespace rowshard::npy
