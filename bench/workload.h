// The synthetic workload of rowshard-bench: T tables, one feature each, B
// bags of exactly L ids per feature, ids uniform or Zipf-skewed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rowshard/engine/dtype.h"

namespace rowshard::bench {

// "f32", "f16" or "bf16"; throws InvalidArgument otherwise.
DType parse_dtype(const std::string& name);

struct IdDistribution {
  // zipf_alpha == 0: uniform over [0, rows). Otherwise
  // P(id = k) proportional to 1 / (k + 1)^alpha: low ids are the hot ones,
  // as when ids are assigned by frequency.
  double zipf_alpha = 0.0;

  // Parses "uniform" or "zipf:ALPHA"; throws InvalidArgument otherwise.
  static IdDistribution parse(const std::string& text);
  std::string name() const;
};

// B * L ids in [0, rows) for one table, deterministic in `seed`.
std::vector<int64_t> generate_ids(int64_t rows, int64_t count, const IdDistribution& distribution,
                                  uint64_t seed);

}  // namespace rowshard::bench
