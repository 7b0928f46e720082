// Shard files: rows [first_row, first_row + rows) of one table, a 4096-byte
// header then the data, memory-mappable in place. The byte layout is
// specified in docs/checkpoint-format.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "rowshard/engine/dtype.h"

namespace rowshard::checkpoint {

inline constexpr std::size_t kShardHeaderBytes = 4096;

struct ShardHeader {
  DType dtype = DType::f32;
  int64_t rows = 0;
  int64_t columns = 0;
  int64_t first_row = 0;
  uint64_t data_checksum = 0;

  int64_t data_bytes() const { return rows * columns * static_cast<int64_t>(dtype_size(dtype)); }
};

// The 4096 header bytes for `header` (whose checksum the caller computed
// over the data).
std::vector<std::byte> encode_shard_header(const ShardHeader& header);

// Reads and checks the header of a shard file of `file_size` bytes whose
// first bytes are `prefix` (the whole header, or the whole file if it is
// shorter). Every field is checked against the others and against the file
// size before anything past the header is touched; a failure throws
// CorruptData naming `file_name` and the field. The data checksum is not
// verified here (see verify_shard_data).
ShardHeader parse_shard_header(std::span<const std::byte> prefix, std::size_t file_size,
                               std::string_view file_name);

// Throws CorruptData unless the data's XXH3-64 is header.data_checksum.
void verify_shard_data(const ShardHeader& header, std::span<const std::byte> data,
                       std::string_view file_name);

}  // namespace rowshard::checkpoint
