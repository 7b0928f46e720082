// The CUDA backend's stand-in in a build without nvcc: every entry point
// answers that this build has no CUDA.
#include "engine/cuda/cuda_backend.h"
#include "engine/cuda/device_memory.h"
#include "rowshard/engine/device.h"
#include "rowshard/engine/error.h"

namespace rowshard::cuda {

bool is_built() { return false; }

std::string unavailable_reason() {
  return "this build of rowshard has no backend for it (CUDA is built only where nvcc is found)";
}

const Backend& backend(std::string_view owner) {
  throw InvalidArgument(message(owner, ": device cuda: ", unavailable_reason()));
}

std::shared_ptr<void> allocate_placed(std::size_t bytes, MemoryPlacement) {
  throw InvalidArgument(message("GPU memory for ", bytes, " bytes: ", unavailable_reason()));
}

void prefetch_to_device(const RowStorage&) {}

std::optional<DeviceMemory> device_memory_info() { return std::nullopt; }

}  // namespace rowshard::cuda

namespace rowshard {

int cuda_device_count() { return 0; }

void select_cuda_device(int index) {
  throw InvalidArgument(message("CUDA device ", index, ": ", cuda::unavailable_reason()));
}

}  // namespace rowshard
