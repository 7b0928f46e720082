#include "bench/device_copy_bandwidth.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <vector>

#include "engine/cuda/cuda_check.h"
#include "engine/cuda/device_buffer.h"

namespace rowshard::bench {

double device_copy_bytes_per_second() {
  constexpr std::size_t kBytes = std::size_t{1} << 30;
  constexpr int kCopies = 10;
  cuda::DeviceBuffer<std::byte> from(kBytes), to(kBytes);
  ROWSHARD_CUDA_CHECK(cudaMemset(from.data(), 1, kBytes));
  cudaEvent_t start, stop;
  ROWSHARD_CUDA_CHECK(cudaEventCreate(&start));
  ROWSHARD_CUDA_CHECK(cudaEventCreate(&stop));
  std::vector<double> rates;
  for (int i = 0; i <= kCopies; ++i) {
    ROWSHARD_CUDA_CHECK(cudaEventRecord(start));
    ROWSHARD_CUDA_CHECK(cudaMemcpy(to.data(), from.data(), kBytes, cudaMemcpyDeviceToDevice));
    ROWSHARD_CUDA_CHECK(cudaEventRecord(stop));
    ROWSHARD_CUDA_CHECK(cudaEventSynchronize(stop));
    float milliseconds = 0;
    ROWSHARD_CUDA_CHECK(cudaEventElapsedTime(&milliseconds, start, stop));
    if (i > 0) rates.push_back(2.0 * kBytes / (milliseconds * 1e-3));  // the first warms up
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}

}  // namespace rowshard::bench
