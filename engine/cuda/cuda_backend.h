// The CUDA backend: kernels that read and update tables in GPU memory (or
// in pinned host memory mapped into the GPU's address space). Built where
// nvcc was found (cuda_backend.cu); elsewhere no_cuda.cpp answers that this
// build has none.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "engine/backend.h"

namespace rowshard::cuda {

// Whether this build has the CUDA backend.
bool is_built();

// Why no CUDA device can be used (no build, no driver, no device), or an
// empty string when device 0 answers. Any error from the device count
// counts: without a driver it is error 35, not "0 devices".
std::string unavailable_reason();

// The backend; throws InvalidArgument naming `owner` and the reason when
// there is no usable device.
const Backend& backend(std::string_view owner);

// Moves storage placed in GPU memory (MemoryPlacement::cuda_device) to the
// device in bulk, after host code has written it (initialisation, a
// checkpoint restore, load_pretrained), so the first kernels do not fault
// its pages over one by one. No-op for any other placement.
void prefetch_to_device(const RowStorage& storage);

struct DeviceMemory {
  std::size_t free_bytes = 0;
  std::size_t total_bytes = 0;
};
// The current device's free and total memory (cudaMemGetInfo), for
// planners sizing tables; nullopt where no device answers.
std::optional<DeviceMemory> device_memory_info();

}  // namespace rowshard::cuda
