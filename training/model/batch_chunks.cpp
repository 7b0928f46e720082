#include "training/model/batch_chunks.h"

namespace rowshard {

void add_in_order(std::span<float> target, std::span<const std::vector<float>> parts) {
  if (parts.empty()) return;  // adding 0 would turn a -0 into +0
  const auto size = static_cast<int64_t>(target.size());
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < size; ++i) {
    float sum = 0.0f;
    for (const std::vector<float>& part : parts) sum += part[i];
    target[i] += sum;
  }
}

}  // namespace rowshard
