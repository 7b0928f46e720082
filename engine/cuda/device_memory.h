// Memory for tables and optimizer state that the CUDA kernels read: the
// allocation behind RowStorage::allocate's CUDA placements. Built in
// device_memory.cu; without CUDA, no_cuda.cpp refuses with the reason.
#pragma once

#include <cstddef>
#include <memory>

#include "rowshard/engine/row_storage.h"

namespace rowshard::cuda {

// `bytes` of zero-filled memory, placed as `placement` says (a CUDA one),
// that both the host and the current device can dereference. Throws
// OutOfMemory naming the bytes (cuda_device: also when they exceed the
// device's free memory, since managed memory would otherwise be
// oversubscribed silently and page to the host), and InvalidArgument with
// unavailable_reason() when no device answers.
std::shared_ptr<void> allocate_placed(std::size_t bytes, MemoryPlacement placement);

}  // namespace rowshard::cuda
