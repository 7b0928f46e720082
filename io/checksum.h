// Content checksums: XXH3-64 (xxHash), fast enough to verify a checkpoint at
// disk speed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace rowshard {

uint64_t xxh3(std::span<const std::byte> bytes);

// 16 lowercase hex digits, as manifests store checksums; and back, nullopt
// for anything that is not 16 lowercase hex digits.
std::string checksum_hex(uint64_t checksum);
std::optional<uint64_t> parse_checksum_hex(std::string_view text);

}  // namespace rowshard
