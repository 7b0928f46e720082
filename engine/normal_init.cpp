#include "engine/normal_init.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "engine/counter_hash.h"

namespace rowshard {
namespace {

// Uniform in (0, 1]: the top 53 bits, shifted off zero so log() is finite.
double unit_open_zero(uint64_t bits) {
  return (static_cast<double>(bits >> 11) + 1.0) * 0x1.0p-53;
}

// Box-Muller over pairs: elements 2k and 2k + 1 share one (u1, u2) draw,
// number k, and take its cosine and sine halves.
struct NormalPair {
  float cosine_half;
  float sine_half;
};

NormalPair normal_pair(uint64_t seed, uint64_t pair) {
  const double u1 = unit_open_zero(counter_hash(seed, 2 * pair));
  const double u2 = unit_open_zero(counter_hash(seed, 2 * pair + 1));
  const double radius = std::sqrt(-2.0 * std::log(u1));
  const double angle = 2.0 * std::numbers::pi * u2;
  return {static_cast<float>(radius * std::cos(angle)),
          static_cast<float>(radius * std::sin(angle))};
}

}  // namespace

float standard_normal_at(uint64_t seed, uint64_t element) {
  const NormalPair draw = normal_pair(seed, element >> 1);
  return (element & 1) ? draw.sine_half : draw.cosine_half;
}

void standard_normals(std::span<float> out, uint64_t seed, uint64_t first_element) {
  std::size_t i = 0;
  // An odd first element is the second half of its pair.
  if ((first_element & 1) && !out.empty()) out[i++] = standard_normal_at(seed, first_element);
  for (; i + 2 <= out.size(); i += 2) {
    const NormalPair draw = normal_pair(seed, (first_element + i) >> 1);
    out[i] = draw.cosine_half;
    out[i + 1] = draw.sine_half;
  }
  if (i < out.size()) out[i] = standard_normal_at(seed, first_element + i);
}

void fill_standard_normal(std::span<float> out, uint64_t seed,
                          int64_t first_element) {
  constexpr std::size_t kBlock = 4096;
  const auto blocks = static_cast<int64_t>((out.size() + kBlock - 1) / kBlock);
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    const std::size_t first = static_cast<std::size_t>(b) * kBlock;
    standard_normals(out.subspan(first, std::min(kBlock, out.size() - first)), seed,
                     static_cast<uint64_t>(first_element) + first);
  }
}

}  // namespace rowshard
