// Checks shared by the optimizers' constructors; each throws
// InvalidArgument naming the optimizer, the option and its valid range.
#pragma once

#include <string_view>

namespace rowshard {

void check_learning_rate(std::string_view optimizer, float lr);
void check_weight_decay(std::string_view optimizer, float weight_decay);
void check_epsilon(std::string_view optimizer, float eps);
void check_initial_accumulator(std::string_view optimizer, float value);

}  // namespace rowshard
