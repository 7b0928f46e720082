#include "engine/normal_init.h"

// GCC 12 warns, inside its own intrinsics headers, that Eigen's AVX-512
// sine and cosine read an uninitialised register (the intrinsics' undefined
// source operand, as in engine/cpu's kernels). The warning is raised where
// Eigen's templates are compiled, so it is off for this whole file.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>

#include <algorithm>
#include <numbers>

#include "engine/counter_hash.h"

namespace rowshard {
namespace {

// Box-Muller in fp32, as PyTorch's CPU normal_ does for fp32 tensors:
// elements 2k and 2k + 1 share one (u1, u2) draw, number k, and take its
// cosine and sine halves. Draws come in groups of 16, computed together with
// Eigen's vectorised log, sin and cos rather than a libm call per element
// (BENCHMARKS.md, "Building a table"). Every element, drawn alone or in a
// run, comes out of its whole group's computation, so it has the same value
// either way.
constexpr int kDrawsPerGroup = 16;
constexpr uint64_t kElementsPerGroup = 2 * kDrawsPerGroup;
using Draws = Eigen::Array<float, kDrawsPerGroup, 1>;

// Uniform in (0, 1]: the top 24 bits, shifted off zero so log() is finite.
float unit_open_zero(uint64_t bits) { return (static_cast<float>(bits >> 40) + 1.0f) * 0x1.0p-24f; }

// Elements [group * 32, group * 32 + 32) into out.
void normal_group(uint64_t seed, uint64_t group, float* out) {
  Draws u1, u2;
  for (int k = 0; k < kDrawsPerGroup; ++k) {
    const uint64_t draw = group * kDrawsPerGroup + k;
    u1[k] = unit_open_zero(counter_hash(seed, 2 * draw));
    u2[k] = unit_open_zero(counter_hash(seed, 2 * draw + 1));
  }
  const Draws radius = (-2.0f * u1.log()).sqrt();
  const Draws angle = (2.0f * std::numbers::pi_v<float>)*u2;
  const Draws cosine_halves = radius * angle.cos();
  const Draws sine_halves = radius * angle.sin();
  for (int k = 0; k < kDrawsPerGroup; ++k) {
    out[2 * k] = cosine_halves[k];
    out[2 * k + 1] = sine_halves[k];
  }
}

}  // namespace

float standard_normal_at(uint64_t seed, uint64_t element) {
  float group[kElementsPerGroup];
  normal_group(seed, element / kElementsPerGroup, group);
  return group[element % kElementsPerGroup];
}

void standard_normals(std::span<float> out, uint64_t seed, uint64_t first_element) {
  std::size_t i = 0;
  while (i < out.size()) {
    const uint64_t element = first_element + i;
    const uint64_t group = element / kElementsPerGroup;
    const uint64_t offset = element % kElementsPerGroup;
    const std::size_t count = std::min<std::size_t>(kElementsPerGroup - offset, out.size() - i);
    if (count == kElementsPerGroup) {
      normal_group(seed, group, out.data() + i);
    } else {
      // A run that starts or ends mid-group.
      float whole[kElementsPerGroup];
      normal_group(seed, group, whole);
      std::copy_n(whole + offset, count, out.data() + i);
    }
    i += count;
  }
}

void fill_standard_normal(std::span<float> out, uint64_t seed, int64_t first_element) {
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
