#include "engine/optimizers/validate_options.h"

#include <cmath>

#include "rowshard/engine/error.h"

namespace rowshard {
namespace {

void check_non_negative(std::string_view optimizer, std::string_view option, float value) {
  if (!(value >= 0.0f) || !std::isfinite(value))
    throw InvalidArgument(
        message("optimizer ", optimizer, ": ", option, " = ", value, " must be finite and >= 0"));
}

}  // namespace

void check_learning_rate(std::string_view optimizer, float lr) {
  check_non_negative(optimizer, "lr", lr);
}
void check_weight_decay(std::string_view optimizer, float weight_decay) {
  check_non_negative(optimizer, "weight_decay", weight_decay);
}
void check_epsilon(std::string_view optimizer, float eps) {
  check_non_negative(optimizer, "eps", eps);
}
void check_initial_accumulator(std::string_view optimizer, float value) {
  check_non_negative(optimizer, "initial_accumulator_value", value);
}

}  // namespace rowshard
