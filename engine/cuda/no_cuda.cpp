// The CUDA backend's stand-in in a build without nvcc.
#include "engine/cuda/cuda_backend.h"
#include "rowshard/engine/error.h"

namespace rowshard::cuda {

bool is_built() { return false; }

std::string unavailable_reason() {
  return "this build of rowshard has no backend for it (CUDA is built only where nvcc is found)";
}

const Backend& backend(std::string_view owner) {
  throw InvalidArgument(message(owner, ": device cuda: ", unavailable_reason()));
}

}  // namespace rowshard::cuda
