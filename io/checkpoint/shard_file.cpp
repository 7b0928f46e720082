#include "io/checkpoint/shard_file.h"

#include <cstring>
#include <limits>

#include "io/checksum.h"
#include "rowshard/engine/error.h"

namespace rowshard::checkpoint {
namespace {

constexpr char kMagic[8] = {'R', 'S', 'H', 'D', 'S', 'H', 'R', 'D'};
constexpr uint32_t kFormatVersion = 1;
constexpr std::size_t kChecksummedBytes = 56;

void put(std::vector<std::byte>& out, std::size_t at, uint64_t value, std::size_t bytes) {
  for (std::size_t i = 0; i < bytes; ++i)
    out[at + i] = static_cast<std::byte>((value >> (8 * i)) & 0xff);
}

uint64_t get(std::span<const std::byte> in, std::size_t at, std::size_t bytes) {
  uint64_t value = 0;
  for (std::size_t i = bytes; i-- > 0;)
    value = (value << 8) | std::to_integer<uint64_t>(in[at + i]);
  return value;
}

[[noreturn]] void corrupt(std::string_view file_name, std::string_view what) {
  throw CorruptData(message("checkpoint shard '", file_name, "': ", what));
}

}  // namespace

std::vector<std::byte> encode_shard_header(const ShardHeader& header) {
  std::vector<std::byte> out(kShardHeaderBytes, std::byte{0});
  std::memcpy(out.data(), kMagic, sizeof kMagic);
  put(out, 8, kFormatVersion, 4);
  put(out, 12, static_cast<uint32_t>(header.dtype), 4);
  put(out, 16, static_cast<uint64_t>(header.rows), 8);
  put(out, 24, static_cast<uint64_t>(header.columns), 8);
  put(out, 32, static_cast<uint64_t>(header.first_row), 8);
  put(out, 40, static_cast<uint64_t>(header.data_bytes()), 8);
  put(out, 48, header.data_checksum, 8);
  put(out, 56, xxh3(std::span(out).first(kChecksummedBytes)), 8);
  return out;
}

ShardHeader parse_shard_header(std::span<const std::byte> prefix, std::size_t file_size,
                               std::string_view file_name) {
  if (file_size < kShardHeaderBytes || prefix.size() < kShardHeaderBytes)
    corrupt(file_name, message("the file has ", file_size, " bytes, less than its ",
                               kShardHeaderBytes, "-byte header"));
  if (std::memcmp(prefix.data(), kMagic, sizeof kMagic) != 0)
    corrupt(file_name, "bad magic: not a rowshard shard file");
  const uint64_t version = get(prefix, 8, 4);
  if (version != kFormatVersion)
    corrupt(file_name,
            message("format_version ", version, " is not supported (valid: ", kFormatVersion, ")"));
  if (get(prefix, 56, 8) != xxh3(prefix.first(kChecksummedBytes)))
    corrupt(file_name, "header_checksum does not match the header");
  for (std::size_t i = 64; i < kShardHeaderBytes; ++i)
    if (prefix[i] != std::byte{0}) corrupt(file_name, message("padding byte ", i, " is not zero"));

  ShardHeader header;
  const uint64_t dtype = get(prefix, 12, 4);
  if (dtype > 2) corrupt(file_name, message("dtype ", dtype, " is unknown (valid: 0, 1, 2)"));
  header.dtype = static_cast<DType>(dtype);
  const uint64_t rows = get(prefix, 16, 8), columns = get(prefix, 24, 8),
                 first_row = get(prefix, 32, 8), data_bytes = get(prefix, 40, 8);
  constexpr uint64_t kLimit = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (rows > kLimit || columns > kLimit || first_row > kLimit)
    corrupt(file_name, "rows, columns or first_row is beyond 2^63");
  // rows * columns * element size, without overflow.
  const uint64_t element = dtype_size(header.dtype);
  if (columns != 0 && rows > kLimit / columns / element)
    corrupt(file_name, message("rows ", rows, " x columns ", columns, " is too large"));
  if (data_bytes != rows * columns * element)
    corrupt(file_name, message("data_bytes ", data_bytes, " is not rows ", rows, " x columns ",
                               columns, " x ", element, " bytes"));
  if (file_size - kShardHeaderBytes != data_bytes)
    corrupt(file_name, message("the file holds ", file_size - kShardHeaderBytes,
                               " bytes of data but data_bytes says ", data_bytes));
  header.rows = static_cast<int64_t>(rows);
  header.columns = static_cast<int64_t>(columns);
  header.first_row = static_cast<int64_t>(first_row);
  header.data_checksum = get(prefix, 48, 8);
  return header;
}

void verify_shard_data(const ShardHeader& header, std::span<const std::byte> data,
                       std::string_view file_name) {
  const uint64_t actual = xxh3(data);
  if (actual != header.data_checksum)
    corrupt(file_name, message("data checksum ", checksum_hex(actual), " does not match ",
                               checksum_hex(header.data_checksum), " in the header"));
}

}  // namespace rowshard::checkpoint
