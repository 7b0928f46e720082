// CUDA runtime errors as rowshard errors: a failed call throws, naming the
// call and the runtime's own words, instead of being ignored.
#pragma once

#include <cuda_runtime.h>

#include "rowshard/engine/error.h"

namespace rowshard::cuda {

class CudaError : public Error {
 public:
  using Error::Error;
};

inline void check(cudaError_t status, const char* call) {
  if (status == cudaErrorMemoryAllocation)
    throw OutOfMemory(message(call, ": out of GPU memory (", cudaGetErrorString(status), ")"));
  if (status != cudaSuccess)
    throw CudaError(message(call, ": CUDA error ", static_cast<int>(status), " (",
                            cudaGetErrorString(status), ")"));
}

}  // namespace rowshard::cuda

#define ROWSHARD_CUDA_CHECK(call) ::rowshard::cuda::check((call), #call)
