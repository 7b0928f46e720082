#include "rowshard/io/npy/npy_format.h"

#include <charconv>
#include <cstring>
#include <limits>

#include "rowshard/engine/error.h"

namespace rowshard::npy {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicBytes = 6;
constexpr std::size_t kAlignment = 64;

struct ElementTypeInfo {
  ElementType type;
  std::string_view descr;
  std::string_view numpy_name;
  std::size_t size;
  std::optional<DType> table_dtype;
};

constexpr ElementTypeInfo kElementTypes[] = {
    {ElementType::float32, "<f4", "float32", 4, DType::f32},
    {ElementType::float16, "<f2", "float16", 2, DType::f16},
    {ElementType::int64, "<i8", "int64", 8, std::nullopt},
    {ElementType::int32, "<i4", "int32", 4, std::nullopt},
};

const ElementTypeInfo& info(ElementType type) {
  for (const ElementTypeInfo& entry : kElementTypes)
    if (entry.type == type) return entry;
  ROWSHARD_ASSERT(false);
}

[[noreturn]] void corrupt(std::string_view file_name, std::string_view what) {
  throw CorruptData(message("npy file '", file_name, "': ", what));
}

uint32_t read_little_endian(std::span<const std::byte> bytes) {
  uint32_t value = 0;
  for (std::size_t i = bytes.size(); i-- > 0;)
    value = (value << 8) | std::to_integer<uint32_t>(bytes[i]);
  return value;
}

// Reads the dict value after the key `key` ('descr', ...), or fails.
std::string_view value_after(std::string_view dict, std::string_view key,
                             std::string_view file_name) {
  const std::string quoted = message('\'', key, '\'');
  const std::size_t at = dict.find(quoted);
  if (at == std::string_view::npos) corrupt(file_name, message("header has no ", quoted, " key"));
  std::size_t start = dict.find(':', at + quoted.size());
  if (start == std::string_view::npos)
    corrupt(file_name, message("header key ", quoted, " has no value"));
  ++start;
  while (start < dict.size() && dict[start] == ' ') ++start;
  return dict.substr(start);
}

ElementType parse_descr(std::string_view value, std::string_view file_name) {
  if (value.empty() || (value[0] != '\'' && value[0] != '"'))
    corrupt(file_name, "'descr' is not a string");
  const std::size_t end = value.find(value[0], 1);
  if (end == std::string_view::npos) corrupt(file_name, "'descr' is unterminated");
  const std::string_view descr = value.substr(1, end - 1);
  std::string valid;
  for (const ElementTypeInfo& entry : kElementTypes) {
    if (descr == entry.descr) return entry.type;
    valid += message(valid.empty() ? "" : ", ", "'", entry.descr, "' (", entry.numpy_name, ")");
  }
  throw InvalidArgument(
      message("npy file '", file_name, "': dtype '", descr, "' is not supported; valid: ", valid));
}

Shape parse_shape(std::string_view value, std::string_view file_name) {
  if (value.empty() || value[0] != '(') corrupt(file_name, "'shape' is not a tuple");
  const std::size_t close = value.find(')');
  if (close == std::string_view::npos) corrupt(file_name, "'shape' is unterminated");
  Shape shape;
  const char* cursor = value.data() + 1;
  const char* end = value.data() + close;
  while (cursor < end) {
    while (cursor < end && (*cursor == ' ' || *cursor == ',')) ++cursor;
    if (cursor == end) break;
    int64_t extent = 0;
    const auto [next, error] = std::from_chars(cursor, end, extent);
    if (error != std::errc() || extent < 0)
      corrupt(file_name, message("'shape' has a bad extent in '", value.substr(0, close + 1), "'"));
    shape.push_back(extent);
    cursor = next;
  }
  return shape;
}

// Python's repr of the shape tuple: "()", "(3,)", "(3, 4)".
std::string shape_tuple(const Shape& shape) {
  std::string text = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) text += message(i ? ", " : "", shape[i]);
  if (shape.size() == 1) text += ',';
  return text + ')';
}

}  // namespace

std::size_t element_size(ElementType type) { return info(type).size; }

std::string_view descr_of(ElementType type) { return info(type).descr; }

std::optional<DType> table_dtype(ElementType type) { return info(type).table_dtype; }

std::optional<ElementType> element_type_of(DType dtype) {
  for (const ElementTypeInfo& entry : kElementTypes)
    if (entry.table_dtype == dtype) return entry.type;
  return std::nullopt;
}

Header parse_header(std::span<const std::byte> prefix, std::size_t file_size,
                    std::string_view file_name) {
  if (file_size < kMagicBytes + 4 || prefix.size() < kMagicBytes + 4 ||
      std::memcmp(prefix.data(), kMagic, kMagicBytes) != 0)
    corrupt(file_name, "not a .npy file (bad magic)");
  const auto major = std::to_integer<int>(prefix[6]);
  if (major < 1 || major > 3) corrupt(file_name, message("unsupported format version ", major));
  const std::size_t length_bytes = major == 1 ? 2 : 4;
  const std::size_t preamble = kMagicBytes + 2 + length_bytes;
  if (prefix.size() < preamble) corrupt(file_name, "truncated header");
  const std::size_t header_length =
      read_little_endian(prefix.subspan(kMagicBytes + 2, length_bytes));
  if (preamble + header_length > file_size || preamble + header_length > prefix.size())
    corrupt(file_name, message("header length ", header_length, " runs past the end of the file (",
                               file_size, " bytes)"));
  const std::string_view dict(reinterpret_cast<const char*>(prefix.data()) + preamble,
                              header_length);
  if (dict.find('{') == std::string_view::npos || dict.find('}') == std::string_view::npos)
    corrupt(file_name, "header is not a dict");

  Header header;
  header.type = parse_descr(value_after(dict, "descr", file_name), file_name);
  const std::string_view fortran = value_after(dict, "fortran_order", file_name);
  if (fortran.starts_with("True"))
    throw InvalidArgument(
        message("npy file '", file_name,
                "': arrays in Fortran order are not supported; save it in C order "
                "(np.ascontiguousarray)"));
  if (!fortran.starts_with("False"))
    corrupt(file_name, "'fortran_order' is neither True nor False");
  header.shape = parse_shape(value_after(dict, "shape", file_name), file_name);
  header.data_offset = preamble + header_length;

  // Multiply with an overflow check: a lying shape must not wrap around.
  std::size_t elements = 1;
  for (int64_t extent : header.shape) {
    if (extent != 0 &&
        elements > std::numeric_limits<std::size_t>::max() / static_cast<std::size_t>(extent))
      corrupt(file_name, "'shape' is too large");
    elements *= static_cast<std::size_t>(extent);
  }
  if (elements > (file_size - header.data_offset) / element_size(header.type) ||
      elements * element_size(header.type) != file_size - header.data_offset)
    corrupt(file_name, message("'shape' needs ", elements, " elements of ",
                               element_size(header.type), " bytes but the file holds ",
                               file_size - header.data_offset, " bytes of data"));
  header.data_bytes = elements * element_size(header.type);
  return header;
}

std::string format_header(ElementType type, const Shape& shape) {
  std::string dict = message("{'descr': '", descr_of(type),
                             "', 'fortran_order': False, 'shape': ", shape_tuple(shape), ", }");

  const bool fits_v1 = dict.size() + 1 + kMagicBytes + 4 <= 65535;
  const std::size_t preamble = kMagicBytes + 2 + (fits_v1 ? 2 : 4);
  const std::size_t padded =
      (preamble + dict.size() + 1 + kAlignment - 1) / kAlignment * kAlignment;
  dict.append(padded - preamble - dict.size() - 1, ' ');
  dict += '\n';

  std::string header(kMagic, kMagicBytes);
  header += static_cast<char>(fits_v1 ? 1 : 2);
  header += '\0';
  const auto length = static_cast<uint32_t>(dict.size());
  for (std::size_t i = 0; i < (fits_v1 ? 2u : 4u); ++i)
    header += static_cast<char>((length >> (8 * i)) & 0xff);
  return header + dict;
}

}  // namespace rowshard::npy
