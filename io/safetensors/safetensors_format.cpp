#include "rowshard/io/safetensors/safetensors_format.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "rowshard/engine/error.h"

namespace rowshard::safetensors {
namespace {

using nlohmann::json;

constexpr std::size_t kDataAlignment = 8;
constexpr std::string_view kMetadataKey = "__metadata__";

struct TensorTypeInfo {
  TensorType type;
  std::string_view name;
  std::size_t size;
  std::optional<DType> table_dtype;
};

constexpr TensorTypeInfo kTensorTypes[] = {
    {TensorType::f32, "F32", 4, DType::f32},    {TensorType::f16, "F16", 2, DType::f16},
    {TensorType::bf16, "BF16", 2, DType::bf16}, {TensorType::i64, "I64", 8, std::nullopt},
    {TensorType::i32, "I32", 4, std::nullopt},
};

const TensorTypeInfo& info(TensorType type) {
  for (const TensorTypeInfo& entry : kTensorTypes)
    if (entry.type == type) return entry;
  ROWSHARD_ASSERT(false);
}

// Long enough to show a shape or an offset pair whole, short enough that a
// hostile header cannot make an error message megabytes long.
constexpr std::size_t kMaxQuotedChars = 80;

[[noreturn]] void corrupt(std::string_view file_name, std::string_view what) {
  throw CorruptData(message("safetensors file '", file_name, "': ", what));
}

[[noreturn]] void corrupt_tensor(std::string_view file_name, std::string_view tensor,
                                 std::string_view what) {
  corrupt(file_name, message("tensor '", tensor, "': ", what));
}

uint64_t read_little_endian(std::span<const std::byte> bytes) {
  uint64_t value = 0;
  for (std::size_t i = bytes.size(); i-- > 0;)
    value = (value << 8) | std::to_integer<uint64_t>(bytes[i]);
  return value;
}

std::string cut_short(std::string text) {
  if (text.size() > kMaxQuotedChars) text = text.substr(0, kMaxQuotedChars) + "...";
  return text;
}

// A JSON value as the header spelled it, cut short. Arrays and objects that
// hold arrays or objects are only named: a hostile header can nest them
// deeper than printing, which recurses, could go.
std::string quoted(const json& value) {
  if (value.is_structured() && std::any_of(value.begin(), value.end(), [](const json& element) {
        return element.is_structured();
      }))
    return value.is_array() ? "an array of arrays or objects" : "an object of arrays or objects";
  return cut_short(value.dump());
}

std::string shape_text(const Shape& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += message(i ? ", " : "", shape[i]);
  return text + ']';
}

void require_prefix(std::span<const std::byte> prefix, std::size_t needed,
                    std::string_view file_name) {
  if (prefix.size() < needed)
    throw InvalidArgument(message("safetensors file '", file_name, "': parse_header was given ",
                                  prefix.size(), " bytes but the header needs ", needed));
}

TensorType parse_dtype(const json& dtype, std::string_view tensor, std::string_view file_name) {
  if (!dtype.is_string())
    corrupt_tensor(file_name, tensor, message("'dtype' ", quoted(dtype), " is not a string"));
  const auto& name = dtype.get_ref<const std::string&>();
  std::string valid;
  for (const TensorTypeInfo& entry : kTensorTypes) {
    if (name == entry.name) return entry.type;
    valid += message(valid.empty() ? "" : ", ", entry.name);
  }
  throw InvalidArgument(message("safetensors file '", file_name, "': tensor '", tensor,
                                "' has dtype '", name,
                                "', which is not supported; valid: ", valid));
}

Shape parse_shape(const json& shape, std::string_view tensor, std::string_view file_name) {
  if (!shape.is_array())
    corrupt_tensor(file_name, tensor, message("'shape' ", quoted(shape), " is not an array"));
  Shape extents;
  for (const json& extent : shape) {
    // The parser stores every non-negative integer as unsigned; negative
    // ones, fractions and integers too large for 64 bits are not.
    if (!extent.is_number_unsigned() ||
        extent.get<uint64_t>() > std::numeric_limits<int64_t>::max())
      corrupt_tensor(file_name, tensor,
                     message("'shape' ", quoted(shape), " has extent ", quoted(extent),
                             "; valid: integers in [0, 2^63)"));
    extents.push_back(static_cast<int64_t>(extent.get<uint64_t>()));
  }
  return extents;
}

// Returns [begin, end) relative to the data buffer, checked to be ordered
// and within its `data_size` bytes.
std::pair<std::size_t, std::size_t> parse_data_offsets(const json& offsets, std::size_t data_size,
                                                       std::string_view tensor,
                                                       std::string_view file_name) {
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned())
    corrupt_tensor(file_name, tensor,
                   message("'data_offsets' ", quoted(offsets),
                           " is not a pair [begin, end] of non-negative integers"));
  const auto begin = offsets[0].get<uint64_t>();
  const auto end = offsets[1].get<uint64_t>();
  if (begin > end || end > data_size)
    corrupt_tensor(file_name, tensor,
                   message("'data_offsets' [", begin, ", ", end,
                           "] is not a range within the data buffer [0, ", data_size, "]"));
  return {static_cast<std::size_t>(begin), static_cast<std::size_t>(end)};
}

TensorEntry parse_tensor(const std::string& name, const json& entry, std::size_t data_start,
                         std::size_t file_size, std::string_view file_name) {
  if (!entry.is_object())
    corrupt_tensor(file_name, name, message(quoted(entry), " is not an object"));
  for (const char* field : {"dtype", "shape", "data_offsets"})
    if (!entry.contains(field)) corrupt_tensor(file_name, name, message("has no '", field, "'"));

  TensorEntry tensor{.name = name,
                     .type = parse_dtype(entry["dtype"], name, file_name),
                     .shape = parse_shape(entry["shape"], name, file_name)};
  const auto [begin, end] =
      parse_data_offsets(entry["data_offsets"], file_size - data_start, name, file_name);
  const std::optional<std::size_t> bytes = byte_size(tensor.type, tensor.shape);
  if (!bytes || *bytes != end - begin)
    corrupt_tensor(
        file_name, name,
        message("'data_offsets' [", begin, ", ", end, "] hold ", end - begin, " bytes but shape ",
                shape_text(tensor.shape), " of ", dtype_name(tensor.type), " needs ",
                bytes ? message(*bytes) : std::string("more than 2^64")));
  tensor.data_begin = data_start + begin;
  tensor.data_end = data_start + end;
  return tensor;
}

std::map<std::string, std::string> parse_metadata(const json& metadata,
                                                  std::string_view file_name) {
  std::map<std::string, std::string> entries;
  // The reference implementation reads a null "__metadata__" as absent.
  if (metadata.is_null()) return entries;
  if (!metadata.is_object())
    corrupt(file_name, message("'__metadata__' ", quoted(metadata), " is not an object"));
  for (const auto& [key, value] : metadata.items()) {
    if (!value.is_string())
      corrupt(file_name,
              message("'__metadata__' entry '", key, "' is ", quoted(value), ", not a string"));
    entries.emplace(key, value.get<std::string>());
  }
  return entries;
}

// Checks that the tensors, sorted by their bytes, tile the data buffer
// exactly, as the reference implementation does: overlapping tensors would
// alias each other, and bytes that belong to no tensor could hide another
// file format inside a valid-looking one.
void check_tiling(const Header& header, std::size_t file_size, std::string_view file_name) {
  const std::size_t data_start = header.data_start;
  std::size_t covered = data_start;
  const TensorEntry* previous = nullptr;
  for (const TensorEntry& tensor : header.tensors) {
    const std::string offsets = message("'data_offsets' [", tensor.data_begin - data_start, ", ",
                                        tensor.data_end - data_start, "]");
    if (tensor.data_begin < covered)
      corrupt_tensor(
          file_name, tensor.name,
          message(offsets, " overlaps tensor '", previous->name, "' at [",
                  previous->data_begin - data_start, ", ", previous->data_end - data_start, "]"));
    if (tensor.data_begin > covered)
      corrupt_tensor(file_name, tensor.name,
                     message(offsets, " leaves bytes [", covered - data_start, ", ",
                             tensor.data_begin - data_start, ") of the data buffer to no tensor"));
    covered = tensor.data_end;
    previous = &tensor;
  }
  if (covered != file_size)
    corrupt(file_name, message("bytes [", covered - data_start, ", ", file_size - data_start,
                               ") of the data buffer belong to no tensor"));
}

void require_utf8(const std::string& text, std::string_view what, std::string_view file_name) {
  try {
    static_cast<void>(json(text).dump());
  } catch (const json::type_error&) {
    throw InvalidArgument(
        message("safetensors file '", file_name, "': ", what, " is not valid UTF-8"));
  }
}

}  // namespace

std::size_t element_size(TensorType type) { return info(type).size; }

std::string_view dtype_name(TensorType type) { return info(type).name; }

std::optional<DType> table_dtype(TensorType type) { return info(type).table_dtype; }

TensorType tensor_type_of(DType dtype) {
  for (const TensorTypeInfo& entry : kTensorTypes)
    if (entry.table_dtype == dtype) return entry.type;
  ROWSHARD_ASSERT(false);
}

std::optional<std::size_t> byte_size(TensorType type, const Shape& shape) {
  if (std::ranges::any_of(shape, [](int64_t extent) { return extent < 0; })) return std::nullopt;
  if (std::ranges::find(shape, 0) != shape.end()) return 0;
  std::size_t bytes = element_size(type);
  for (int64_t extent : shape) {
    const auto factor = static_cast<std::size_t>(extent);
    if (bytes > std::numeric_limits<std::size_t>::max() / factor) return std::nullopt;
    bytes *= factor;
  }
  return bytes;
}

std::size_t header_prefix_size(std::span<const std::byte> first_bytes, std::size_t file_size) {
  if (first_bytes.size() < kSizeFieldBytes || file_size < kSizeFieldBytes)
    return first_bytes.size();
  const uint64_t header_size = read_little_endian(first_bytes.first(kSizeFieldBytes));
  if (header_size > file_size - kSizeFieldBytes || header_size > kMaxHeaderBytes)
    return kSizeFieldBytes;
  return kSizeFieldBytes + header_size;
}

Header parse_header(std::span<const std::byte> prefix, std::size_t file_size,
                    std::string_view file_name) {
  if (file_size < kSizeFieldBytes)
    corrupt(file_name,
            message("the file is ", file_size, " bytes, too short for the 8-byte header size"));
  require_prefix(prefix, kSizeFieldBytes, file_name);
  const uint64_t header_size = read_little_endian(prefix.first(kSizeFieldBytes));
  if (header_size > file_size - kSizeFieldBytes)
    corrupt(file_name, message("header size ", header_size, " runs past the end of the file (",
                               file_size, " bytes, so at most ", file_size - kSizeFieldBytes, ")"));
  if (header_size > kMaxHeaderBytes)
    corrupt(file_name, message("header size ", header_size, " is over the limit of ",
                               kMaxHeaderBytes, " bytes"));
  const std::size_t data_start = kSizeFieldBytes + header_size;
  require_prefix(prefix, data_start, file_name);

  const auto* text = reinterpret_cast<const char*>(prefix.data()) + kSizeFieldBytes;
  if (header_size == 0 || text[0] != '{') corrupt(file_name, "header does not start with '{'");
  // The JSON parser stops at a NUL as at the end of a C string, so it would
  // accept anything hidden after one; valid JSON never holds one.
  if (const void* nul = std::memchr(text, '\0', header_size))
    corrupt(file_name, message("header holds a NUL byte at offset ",
                               kSizeFieldBytes + (static_cast<const char*>(nul) - text)));
  // The JSON parser keeps the last of repeated keys; a tensor named twice
  // is ambiguous, so note it and refuse the file.
  std::set<std::string> names;
  std::optional<std::string> repeated;
  const json::parser_callback_t note_repeats = [&](int depth, json::parse_event_t event,
                                                   json& parsed) {
    if (depth == 1 && event == json::parse_event_t::key && !repeated &&
        !names.insert(parsed.get<std::string>()).second)
      repeated = parsed.get<std::string>();
    return true;
  };
  json root;
  try {
    root = json::parse(text, text + header_size, note_repeats);
  } catch (const json::exception& error) {
    corrupt(file_name, message("header is not valid JSON: ", cut_short(error.what())));
  }
  if (repeated) corrupt(file_name, message("header names '", *repeated, "' twice"));

  Header header;
  header.data_start = data_start;
  for (const auto& [name, value] : root.items()) {
    if (name == kMetadataKey)
      header.metadata = parse_metadata(value, file_name);
    else
      header.tensors.push_back(parse_tensor(name, value, data_start, file_size, file_name));
  }
  // Stable, so that empty tensors at one offset stay in name order.
  std::ranges::stable_sort(header.tensors, [](const TensorEntry& a, const TensorEntry& b) {
    return std::pair(a.data_begin, a.data_end) < std::pair(b.data_begin, b.data_end);
  });
  check_tiling(header, file_size, file_name);
  return header;
}

std::string format_header(std::span<const TensorDescription> tensors,
                          const std::map<std::string, std::string>& metadata,
                          std::string_view file_name) {
  // Insertion-ordered so the JSON lists the tensors in the order written.
  nlohmann::ordered_json root = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json& entries = root[std::string(kMetadataKey)];
    for (const auto& [key, value] : metadata) {
      require_utf8(key, message("metadata key '", key, "'"), file_name);
      require_utf8(value, message("metadata value of '", key, "'"), file_name);
      entries[key] = value;
    }
  }

  std::set<std::string_view> names;
  std::size_t offset = 0;
  for (const TensorDescription& tensor : tensors) {
    const std::string what =
        message("safetensors file '", file_name, "': tensor '", tensor.name, "'");
    if (tensor.name == kMetadataKey)
      throw InvalidArgument(message(what, ": the name is reserved for metadata"));
    if (!names.insert(tensor.name).second)
      throw InvalidArgument(message(what, ": the name is given twice"));
    require_utf8(tensor.name, message("tensor name '", tensor.name, "'"), file_name);
    const std::optional<std::size_t> bytes = byte_size(tensor.type, tensor.shape);
    if (!bytes || *bytes > std::numeric_limits<std::size_t>::max() - offset)
      throw InvalidArgument(
          message(what, ": shape ", shape_text(tensor.shape), " of ", dtype_name(tensor.type),
                  " has a negative extent or, with the tensors before it, more than "
                  "2^64 bytes"));
    root[tensor.name] = {{"dtype", std::string(dtype_name(tensor.type))},
                         {"shape", tensor.shape},
                         {"data_offsets", {offset, offset + *bytes}}};
    offset += *bytes;
  }

  std::string json_text = root.dump();
  json_text.append((kDataAlignment - json_text.size() % kDataAlignment) % kDataAlignment, ' ');
  std::string header(kSizeFieldBytes, '\0');
  for (std::size_t i = 0; i < kSizeFieldBytes; ++i)
    header[i] = static_cast<char>((json_text.size() >> (8 * i)) & 0xff);
  return header + json_text;
}

}  // namespace rowshard::safetensors
