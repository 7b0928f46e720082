// The GPU's own memory bandwidth, as its device-to-device copy reaches it:
// the yardstick rowshard-bench --device cuda reports its kernels against.
#pragma once

namespace rowshard::bench {

// Bytes read plus bytes written per second by cudaMemcpy between two
// 1 GiB device buffers (the median of 10 copies, timed with CUDA events),
// on the current device. Throws rowshard::Error in a build without CUDA.
double device_copy_bytes_per_second();

}  // namespace rowshard::bench
