// Which GPU a process's tables and kernels use.
#include <cuda_runtime.h>

#include "engine/cuda/cuda_backend.h"
#include "engine/cuda/cuda_check.h"
#include "rowshard/engine/device.h"

namespace rowshard {

int cuda_device_count() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess ? count : 0;
}

void select_cuda_device(int index) {
  if (const std::string reason = cuda::unavailable_reason(); !reason.empty())
    throw InvalidArgument(message("CUDA device ", index, ": ", reason));
  const int count = cuda_device_count();
  if (index < 0 || index >= count)
    throw InvalidArgument(message("CUDA device ", index, " does not exist: this process sees ",
                                  count, " device(s), [0, ", count, ")"));
  ROWSHARD_CUDA_CHECK(cudaSetDevice(index));
}

}  // namespace rowshard
