// A GPU's UUID as text, as nvidia-smi and CUDA_VISIBLE_DEVICES write it.
#pragma once

#include <span>
#include <string>

namespace rowshard {

// "GPU-" and the 16 bytes in hexadecimal, grouped 4-2-2-2-6 by dashes.
std::string gpu_uuid_text(std::span<const unsigned char, 16> uuid);

}  // namespace rowshard
