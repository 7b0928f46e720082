#include "rowshard/engine/row_storage.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>

#include "engine/cuda/device_memory.h"
#include "rowshard/engine/error.h"

namespace rowshard {
namespace {

constexpr std::size_t kHugePageBytes = std::size_t{2} << 20;
constexpr std::size_t kCacheLineBytes = 64;

std::shared_ptr<void> map_anonymous(std::size_t bytes) {
  void* memory = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED)
    throw OutOfMemory(message("cannot map ", bytes, " bytes of memory: ", std::strerror(errno)));
  // Advice only: kernels without THP simply ignore it.
  madvise(memory, bytes, MADV_HUGEPAGE);
  return std::shared_ptr<void>(memory, [bytes](void* p) { munmap(p, bytes); });
}

std::shared_ptr<void> allocate_aligned(std::size_t bytes) {
  const std::size_t rounded = (bytes + kCacheLineBytes - 1) / kCacheLineBytes * kCacheLineBytes;
  void* memory = std::aligned_alloc(kCacheLineBytes, rounded);
  if (memory == nullptr) throw OutOfMemory(message("cannot allocate ", bytes, " bytes of memory"));
  std::memset(memory, 0, rounded);
  return std::shared_ptr<void>(memory, [](void* p) { std::free(p); });
}

}  // namespace

RowStorage RowStorage::allocate(int64_t num_rows, int64_t dim, DType dtype,
                                MemoryPlacement placement) {
  ROWSHARD_ASSERT(num_rows >= 0 && dim >= 0);
  RowStorage storage;
  storage.num_rows_ = num_rows;
  storage.dim_ = dim;
  storage.dtype_ = dtype;
  storage.placement_ = placement;
  const std::size_t bytes = std::max<std::size_t>(storage.size_bytes(), 1);
  std::shared_ptr<void> memory;
  if (placement != MemoryPlacement::host)
    memory = cuda::allocate_placed(bytes, placement);
  else if (bytes >= kHugePageBytes)
    memory = map_anonymous(bytes);  // zero-filled and page-aligned, so THP can back it
  else
    memory = allocate_aligned(bytes);
  storage.data_ = static_cast<std::byte*>(memory.get());
  storage.memory_ = std::move(memory);
  return storage;
}

RowStorage RowStorage::copy_of(std::span<const float> values, int64_t num_rows, int64_t dim) {
  ROWSHARD_ASSERT(static_cast<int64_t>(values.size()) == num_rows * dim);
  RowStorage storage = allocate(num_rows, dim, DType::f32);
  std::memcpy(storage.mutable_bytes(), values.data(), values.size_bytes());
  return storage;
}

RowStorage RowStorage::borrow(std::shared_ptr<const void> keep_alive, const void* data,
                              int64_t num_rows, int64_t dim, DType dtype, bool writable) {
  RowStorage storage;
  storage.memory_ = std::move(keep_alive);
  // The const is restored by writable_: mutable_bytes() refuses read-only data.
  storage.data_ = static_cast<std::byte*>(const_cast<void*>(data));
  storage.num_rows_ = num_rows;
  storage.dim_ = dim;
  storage.dtype_ = dtype;
  storage.writable_ = writable;
  return storage;
}

std::byte* RowStorage::mutable_bytes() {
  ROWSHARD_ASSERT(writable_);
  return data_;
}

}  // namespace rowshard
