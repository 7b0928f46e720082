// DeviceBuffer<T>: n elements of GPU memory, freed with the buffer; the
// staging area for a batch's ids, bounds and results.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <span>
#include <utility>

#include "engine/cuda/cuda_check.h"

namespace rowshard::cuda {

template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t count) { resize(count); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& other) noexcept { swap(other); }
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    swap(other);
    return *this;
  }
  ~DeviceBuffer() { cudaFree(data_); }

  // Room for at least `count` elements; the contents are not kept.
  void resize(std::size_t count) {
    if (count <= capacity_) {
      size_ = count;
      return;
    }
    cudaFree(data_);
    data_ = nullptr;
    capacity_ = size_ = 0;
    ROWSHARD_CUDA_CHECK(cudaMalloc(&data_, std::max<std::size_t>(count, 1) * sizeof(T)));
    capacity_ = size_ = count;
  }

  // Copies `host` in, resizing to its length, on `stream`.
  void upload(std::span<const T> host, cudaStream_t stream) {
    resize(host.size());
    if (!host.empty())
      ROWSHARD_CUDA_CHECK(
          cudaMemcpyAsync(data_, host.data(), host.size_bytes(), cudaMemcpyHostToDevice, stream));
  }
  // Copies the first host.size() elements out, on `stream`.
  void download(std::span<T> host, cudaStream_t stream) const {
    if (!host.empty())
      ROWSHARD_CUDA_CHECK(
          cudaMemcpyAsync(host.data(), data_, host.size_bytes(), cudaMemcpyDeviceToHost, stream));
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  void swap(DeviceBuffer& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
    std::swap(capacity_, other.capacity_);
  }

  T* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

}  // namespace rowshard::cuda
