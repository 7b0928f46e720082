// The safetensors format (Hugging Face), as its reference implementation
// reads and writes it:
//
//   N      8 bytes, unsigned little-endian: the size of the header
//   header N bytes of UTF-8 JSON starting with '{', possibly padded with
//          trailing spaces, e.g.
//            {"__metadata__":{"format":"pt"},
//             "weight":{"dtype":"F32","shape":[3,4],"data_offsets":[0,48]}}
//   data   the tensors' bytes, C order, little-endian
//
// data_offsets [begin, end) count from the start of the data (byte 8 + N);
// end - begin is the tensor's element count times its element size. The
// tensors tile the data exactly: no overlaps, no holes, nothing after the
// last one. "__metadata__", a string-to-string map, is optional. Tensors of
// shape [] are scalars; a shape with a zero extent takes no bytes.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rowshard/engine/dtype.h"
#include "rowshard/engine/lookup_input.h"

namespace rowshard::safetensors {

// The element types this reader and writer take. Others the format defines
// (F64, I8, U8, BOOL, ...) are refused with InvalidArgument.
enum class TensorType { f32, f16, bf16, i64, i32 };

std::size_t element_size(TensorType type);
std::string_view dtype_name(TensorType type);  // "F32", "F16", "BF16", "I64", "I32"

// The table dtype a tensor of `type` holds, if any; the tensor type of a
// table of `dtype`.
std::optional<DType> table_dtype(TensorType type);
TensorType tensor_type_of(DType dtype);

// The bytes of a tensor of `shape`: the product of its extents times the
// element size, or nothing when an extent is negative or the product does
// not fit in a size_t.
std::optional<std::size_t> byte_size(TensorType type, const Shape& shape);

// One tensor of a parsed header. Its bytes are [data_begin, data_end) of the
// file: offsets from the start of the file, not of the data buffer.
struct TensorEntry {
  std::string name;
  TensorType type;
  Shape shape;
  std::size_t data_begin = 0;
  std::size_t data_end = 0;
};

struct Header {
  // In the order of their bytes in the file (empty tensors that share an
  // offset in name order).
  std::vector<TensorEntry> tensors;
  std::map<std::string, std::string> metadata;  // "__metadata__", or empty
  std::size_t data_start = 0;                   // 8 + N
};

// The width of N, the header size that starts the file.
inline constexpr std::size_t kSizeFieldBytes = 8;

// Headers longer than this are refused, as the reference implementation
// refuses them, so that a lying N cannot make a reader load a whole
// multi-gigabyte file as JSON.
inline constexpr std::size_t kMaxHeaderBytes = 100'000'000;

// How many bytes from the start of a file of `file_size` bytes to hand
// parse_header, given its first min(8, file_size) bytes: 8 + N when the
// header N announces fits in the file and under kMaxHeaderBytes; otherwise
// just the bytes given, and parse_header will say what is wrong.
std::size_t header_prefix_size(std::span<const std::byte> first_bytes, std::size_t file_size);

// Parses and checks the header of a file of `file_size` bytes whose first
// bytes are `prefix` (at least header_prefix_size() of them; the whole file
// will do). Every field is checked against the file's size before it is
// used. Throws CorruptData naming `file_name`, the field and its value for a
// header that runs past the end of the file, is not a JSON object, or has
// tensors whose shape, dtype or data_offsets are malformed, disagree with
// each other, overlap, leave holes or run past the end of the file; throws
// InvalidArgument for a dtype this reader does not take, and for a
// `prefix` shorter than the header.
Header parse_header(std::span<const std::byte> prefix, std::size_t file_size,
                    std::string_view file_name);

// What the header says about one tensor to be written.
struct TensorDescription {
  std::string name;
  TensorType type;
  Shape shape;
};

// The bytes that precede the data of a file holding `tensors` back to back
// in the order given: N, then compact JSON with "__metadata__" first (left
// out when `metadata` is empty) and the tensors in that order, each as
// {"dtype":...,"shape":...,"data_offsets":...}, padded with spaces so the
// data starts 8-byte aligned. Throws InvalidArgument naming `file_name` for
// a repeated or reserved ("__metadata__") name, a name or metadata entry
// that is not valid UTF-8, or a shape byte_size() refuses.
std::string format_header(std::span<const TensorDescription> tensors,
                          const std::map<std::string, std::string>& metadata,
                          std::string_view file_name);

}  // namespace rowshard::safetensors
