#include "bench/workload.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "rowshard/engine/error.h"

namespace rowshard::bench {

DType parse_dtype(const std::string& name) {
  if (const std::optional<DType> dtype = dtype_from_name(name)) return *dtype;
  throw InvalidArgument(message("--dtype '", name, "' is not f32, f16 or bf16"));
}

IdDistribution IdDistribution::parse(const std::string& text) {
  if (text == "uniform") return {};
  if (text.starts_with("zipf:")) {
    try {
      const double alpha = std::stod(text.substr(5));
      if (alpha > 0) return {alpha};
    } catch (const std::exception&) {
    }
  }
  throw InvalidArgument(message("--dist '", text,
                                "' is neither 'uniform' nor 'zipf:ALPHA' with "
                                "ALPHA > 0"));
}

std::string IdDistribution::name() const {
  return zipf_alpha == 0.0 ? "uniform" : message("zipf:", zipf_alpha);
}

std::vector<int64_t> generate_ids(int64_t rows, int64_t count, const IdDistribution& distribution,
                                  uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int64_t> ids(count);
  if (distribution.zipf_alpha == 0.0) {
    std::uniform_int_distribution<int64_t> uniform(0, rows - 1);
    for (int64_t& id : ids) id = uniform(rng);
    return ids;
  }
  // Inverse CDF over a cumulative table of the unnormalised weights.
  std::vector<double> cumulative(rows);
  double total = 0.0;
  for (int64_t k = 0; k < rows; ++k) {
    total += std::pow(static_cast<double>(k + 1), -distribution.zipf_alpha);
    cumulative[k] = total;
  }
  std::uniform_real_distribution<double> unit(0.0, total);
  for (int64_t& id : ids) {
    const auto at = std::upper_bound(cumulative.begin(), cumulative.end(), unit(rng));
    id = std::min<int64_t>(at - cumulative.begin(), rows - 1);
  }
  return ids;
}

}  // namespace rowshard::bench
