// libFuzzer target for every parser that reads bytes from a file before
// trusting them: checkpoint shard headers and manifests, .npy headers and
// safetensors headers. The first input byte picks the parser; the rest is
// the file. Any input must give a result or a rowshard::Error: never a
// crash, a hang or a sanitizer report.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "io/checkpoint/shard_file.h"
#include "rowshard/engine/error.h"
#include "rowshard/io/checkpoint/manifest.h"
#include "rowshard/io/npy/npy_format.h"
#include "rowshard/io/safetensors/safetensors_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::span<const std::byte> file(reinterpret_cast<const std::byte*>(data) + 1, size - 1);
  try {
    switch (data[0] % 4) {
      case 0: rowshard::checkpoint::parse_shard_header(file, file.size(), "fuzz"); break;
      case 1:
        rowshard::checkpoint::parse_manifest(
            std::string_view(reinterpret_cast<const char*>(file.data()), file.size()), "fuzz");
        break;
      case 2: rowshard::npy::parse_header(file, file.size(), "fuzz"); break;
      case 3: rowshard::safetensors::parse_header(file, file.size(), "fuzz"); break;
    }
  } catch (const rowshard::Error&) {
  }
  return 0;
}
