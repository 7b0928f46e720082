// The CUDA placements of RowStorage: managed memory that prefers the GPU,
// and pinned host memory mapped into it.
#include "engine/cuda/device_memory.h"

#include <cuda_runtime.h>

#include <cstring>

#include "engine/cuda/cuda_backend.h"
#include "engine/cuda/cuda_check.h"
#include "rowshard/engine/error.h"

namespace rowshard::cuda {
namespace {

int current_device() {
  int device = 0;
  ROWSHARD_CUDA_CHECK(cudaGetDevice(&device));
  return device;
}

cudaMemLocation device_location(int device) {
  cudaMemLocation location{};
  location.type = cudaMemLocationTypeDevice;
  location.id = device;
  return location;
}

[[noreturn]] void out_of_memory(std::size_t bytes, std::string_view where, std::size_t free_bytes,
                                std::size_t total_bytes) {
  throw OutOfMemory(message("cannot place ", bytes, " bytes in ", where, ": the GPU has ",
                            free_bytes, " of ", total_bytes,
                            " bytes free (cuda_memory host_mapped keeps a table larger than the "
                            "GPU's memory in pinned host memory)"));
}

// Managed memory, so host code keeps reading and writing it in place; its
// preferred location is the GPU, where it is prefetched once written.
std::shared_ptr<void> allocate_managed(std::size_t bytes) {
  const DeviceMemory memory = *device_memory_info();
  if (bytes > memory.free_bytes)
    out_of_memory(bytes, "GPU memory", memory.free_bytes, memory.total_bytes);
  void* data = nullptr;
  const cudaError_t status = cudaMallocManaged(&data, bytes, cudaMemAttachGlobal);
  if (status == cudaErrorMemoryAllocation)
    out_of_memory(bytes, "GPU memory", memory.free_bytes, memory.total_bytes);
  ROWSHARD_CUDA_CHECK(status);
  std::shared_ptr<void> owned(data, [](void* p) { cudaFree(p); });
  ROWSHARD_CUDA_CHECK(cudaMemAdvise(data, bytes, cudaMemAdviseSetPreferredLocation,
                                    device_location(current_device())));
  // Zeroed on the host: initialisation writes it there next anyway, and
  // prefetch_to_device then moves it to the GPU in one pass.
  std::memset(data, 0, bytes);
  return owned;
}

std::shared_ptr<void> allocate_host_mapped(std::size_t bytes) {
  void* data = nullptr;
  const cudaError_t status =
      cudaHostAlloc(&data, bytes, cudaHostAllocMapped | cudaHostAllocPortable);
  if (status == cudaErrorMemoryAllocation)
    throw OutOfMemory(message("cannot pin ", bytes, " bytes of host memory for the GPU"));
  ROWSHARD_CUDA_CHECK(status);
  std::memset(data, 0, bytes);
  // With unified addressing (every 64-bit CUDA platform) the kernels use
  // this very pointer; no separate device pointer is needed.
  return std::shared_ptr<void>(data, [](void* p) { cudaFreeHost(p); });
}

}  // namespace

std::shared_ptr<void> allocate_placed(std::size_t bytes, MemoryPlacement placement) {
  if (const std::string reason = unavailable_reason(); !reason.empty())
    throw InvalidArgument(message("GPU memory for ", bytes, " bytes: ", reason));
  if (placement == MemoryPlacement::cuda_host_mapped) return allocate_host_mapped(bytes);
  return allocate_managed(bytes);
}

void prefetch_to_device(const RowStorage& storage) {
  if (storage.placement() != MemoryPlacement::cuda_device || storage.size_bytes() == 0) return;
  ROWSHARD_CUDA_CHECK(cudaMemPrefetchAsync(storage.bytes(), storage.size_bytes(),
                                           device_location(current_device()), 0,
                                           cudaStreamPerThread));
  ROWSHARD_CUDA_CHECK(cudaStreamSynchronize(cudaStreamPerThread));
}

std::optional<DeviceMemory> device_memory_info() {
  if (!unavailable_reason().empty()) return std::nullopt;
  DeviceMemory memory;
  ROWSHARD_CUDA_CHECK(cudaMemGetInfo(&memory.free_bytes, &memory.total_bytes));
  return memory;
}

}  // namespace rowshard::cuda
