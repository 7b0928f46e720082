// ROWSHARD_HOST_DEVICE marks arithmetic written once for both sides: the
// CUDA kernels call it on the device, and the CPU suite tests the same
// function on the host against engine/reference.
#pragma once

#ifdef __CUDACC__
#define ROWSHARD_HOST_DEVICE __host__ __device__
#else
#define ROWSHARD_HOST_DEVICE
#endif
