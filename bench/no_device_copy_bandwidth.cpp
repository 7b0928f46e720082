// device_copy_bytes_per_second in a build without CUDA.
#include "bench/device_copy_bandwidth.h"
#include "rowshard/engine/error.h"

namespace rowshard::bench {

double device_copy_bytes_per_second() {
  throw Error("--device cuda: this build of rowshard has no CUDA (nvcc was not found)");
}

}  // namespace rowshard::bench
