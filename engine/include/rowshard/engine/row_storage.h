// RowStorage: the memory behind one embedding table, `num_rows` rows of
// `dim` elements each, row-major and contiguous.
//
// Memory either belongs to the storage (allocate) or to someone else
// (borrow: a memory-mapped file, a caller's buffer). Owned tables of a few
// megabytes or more are mapped anonymously and advised to use transparent
// huge pages: random row gathers are bound by TLB misses as much as by DRAM
// latency, and 2 MiB pages remove most of them.
//
// Owned memory is placed where the kernels that read it run (placement()).
// Every placement gives a pointer the host can dereference, so
// initialisation, checkpoints and from_pretrained read and write bytes()
// the same way whatever the placement; for GPU memory each host access
// moves the pages it touches to the host, and the GPU's next access moves
// them back (prefetched back in bulk after initialisation and restores).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "rowshard/engine/device.h"
#include "rowshard/engine/dtype.h"

namespace rowshard {

// Where owned storage lives.
enum class MemoryPlacement {
  host,              // ordinary host memory, for the CPU backend
  cuda_device,       // CUDA managed memory preferring the current GPU
  cuda_host_mapped,  // pinned host memory mapped into the GPU
};

// The placement of a table on `device` that asked for `cuda_memory` (host
// for a cpu table, whatever it asked).
constexpr MemoryPlacement memory_placement(Device device, CudaMemory cuda_memory) {
  if (device == Device::cpu) return MemoryPlacement::host;
  return cuda_memory == CudaMemory::host_mapped ? MemoryPlacement::cuda_host_mapped
                                                : MemoryPlacement::cuda_device;
}

class RowStorage {
 public:
  // Zero-filled storage that owns its memory, placed as asked. Throws
  // OutOfMemory, naming the bytes, when there is none to give (for
  // cuda_device: when the table exceeds the GPU's free memory), and
  // InvalidArgument, with the reason, for a CUDA placement where no CUDA
  // device answers or the build has no CUDA.
  static RowStorage allocate(int64_t num_rows, int64_t dim, DType dtype,
                             MemoryPlacement placement = MemoryPlacement::host);

  // A view of `data`, which must hold num_rows * dim elements of `dtype` and
  // stay valid while `keep_alive` (or any copy of this storage) lives.
  // Writes through a read-only borrowed storage are refused by mutable_bytes().
  static RowStorage borrow(std::shared_ptr<const void> keep_alive, const void* data,
                           int64_t num_rows, int64_t dim, DType dtype, bool writable);

  // fp32 storage that owns a copy of `values` ([num_rows, dim], row-major).
  static RowStorage copy_of(std::span<const float> values, int64_t num_rows, int64_t dim);

  RowStorage() = default;

  int64_t num_rows() const { return num_rows_; }
  int64_t dim() const { return dim_; }
  DType dtype() const { return dtype_; }
  bool writable() const { return writable_; }
  // Borrowed storage counts as host memory.
  MemoryPlacement placement() const { return placement_; }
  std::size_t size_bytes() const {
    return static_cast<std::size_t>(num_rows_ * dim_) * dtype_size(dtype_);
  }

  const std::byte* bytes() const { return data_; }
  // Aborts when the storage is read-only: callers check writable() first and
  // report the refusal in their own terms.
  std::byte* mutable_bytes();

  template <typename Element>
  const Element* row(int64_t r) const {
    return reinterpret_cast<const Element*>(data_) + r * dim_;
  }
  template <typename Element>
  Element* mutable_row(int64_t r) {
    return reinterpret_cast<Element*>(mutable_bytes()) + r * dim_;
  }

 private:
  std::shared_ptr<const void> memory_;
  std::byte* data_ = nullptr;
  int64_t num_rows_ = 0;
  int64_t dim_ = 0;
  DType dtype_ = DType::f32;
  bool writable_ = true;
  MemoryPlacement placement_ = MemoryPlacement::host;
};

}  // namespace rowshard
