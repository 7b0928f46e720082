#include "sharding/comm/nccl/gpu_uuid.h"

#include <cstdio>

namespace rowshard {

std::string gpu_uuid_text(std::span<const unsigned char, 16> uuid) {
  std::string text = "GPU-";
  for (std::size_t i = 0; i < uuid.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) text += '-';
    char hex[3];
    std::snprintf(hex, sizeof hex, "%02x", uuid[i]);
    text += hex;
  }
  return text;
}

}  // namespace rowshard
