#include "engine/normal_init.h"

#include <cmath>
#include <numbers>

#include "engine/counter_hash.h"

namespace rowshard {
namespace {

// Uniform in (0, 1]: the top 53 bits, shifted off zero so log() is finite.
double unit_open_zero(uint64_t bits) {
  return (static_cast<double>(bits >> 11) + 1.0) * 0x1.0p-53;
}

}  // namespace

float standard_normal_at(uint64_t seed, uint64_t element) {
  // Box-Muller over pairs: elements 2k and 2k+1 share one (u1, u2) draw and
  // take its cosine and sine halves.
  const uint64_t pair = element >> 1;
  const double u1 = unit_open_zero(counter_hash(seed, 2 * pair));
  const double u2 = unit_open_zero(counter_hash(seed, 2 * pair + 1));
  const double radius = std::sqrt(-2.0 * std::log(u1));
  const double angle = 2.0 * std::numbers::pi * u2;
  return static_cast<float>(radius *
                            ((element & 1) ? std::sin(angle) : std::cos(angle)));
}

void fill_standard_normal(std::span<float> out, uint64_t seed,
                          int64_t first_element) {
  const auto count = static_cast<int64_t>(out.size());
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < count; ++i)
    out[i] = standard_normal_at(seed, static_cast<uint64_t>(first_element + i));
}

}  // namespace rowshard
