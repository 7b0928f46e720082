#include "rowshard/engine/pooling.h"

namespace rowshard {

std::string_view pooling_mode_name(PoolingMode mode) {
  switch (mode) {
    case PoolingMode::sum: return "sum";
    case PoolingMode::mean: return "mean";
    case PoolingMode::max: return "max";
  }
  return "?";
}

std::optional<PoolingMode> parse_pooling_mode(std::string_view name) {
  if (name == "sum") return PoolingMode::sum;
  if (name == "mean") return PoolingMode::mean;
  if (name == "max") return PoolingMode::max;
  return std::nullopt;
}

}  // namespace rowshard
