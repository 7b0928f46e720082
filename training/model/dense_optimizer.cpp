#include "training/model/dense_optimizer.h"

#include <cmath>
#include <utility>

#include "engine/optimizers/validate_options.h"
#include "rowshard/engine/error.h"

namespace rowshard {
namespace {

void check_beta(const std::string& kind, const char* name, float beta) {
  if (!(beta >= 0.0f && beta < 1.0f))
    throw InvalidArgument(
        message("optimizer ", kind, ": ", name, " = ", beta, " is outside [0, 1)"));
}

}  // namespace

DenseOptimizer::DenseOptimizer(DenseOptimizerConfig config, int64_t num_parameters)
    : config_(std::move(config)), num_parameters_(num_parameters) {
  if (config_.kind == "sgd") {
    kind_ = Kind::sgd;
  } else if (config_.kind == "adam") {
    kind_ = Kind::adam;
  } else {
    throw InvalidArgument(message("dense optimizer: unknown kind '", config_.kind,
                                  "'; valid kinds are 'sgd' and 'adam'"));
  }
  check_learning_rate(config_.kind, config_.lr);
  check_weight_decay(config_.kind, config_.weight_decay);
  if (kind_ == Kind::adam) {
    check_beta(config_.kind, "beta1", config_.beta1);
    check_beta(config_.kind, "beta2", config_.beta2);
    check_epsilon(config_.kind, config_.eps);
  }
  if (num_parameters < 0)
    throw InvalidArgument(
        message("dense optimizer: num_parameters = ", num_parameters, " must be >= 0"));
  if (kind_ == Kind::adam) state_.assign(2 * num_parameters, 0.0f);
}

void DenseOptimizer::set_steps(int64_t steps) {
  if (steps < 0)
    throw InvalidArgument(message("dense optimizer: steps = ", steps, " must be >= 0"));
  steps_ = steps;
}

void DenseOptimizer::step(std::span<float> parameters, std::span<const float> gradients) {
  if (static_cast<int64_t>(parameters.size()) != num_parameters_ ||
      static_cast<int64_t>(gradients.size()) != num_parameters_)
    throw InvalidArgument(message("dense optimizer: step with ", parameters.size(),
                                  " parameters and ", gradients.size(), " gradients, expected ",
                                  num_parameters_, " of each"));
  ++steps_;
  const float lr = config_.lr;
  const float weight_decay = config_.weight_decay;
  if (kind_ == Kind::sgd) {
    for (int64_t i = 0; i < num_parameters_; ++i)
      parameters[i] -= lr * (gradients[i] + weight_decay * parameters[i]);
    return;
  }
  const auto t = static_cast<double>(steps_);
  const auto step_size =
      static_cast<float>(lr / (1.0 - std::pow(static_cast<double>(config_.beta1), t)));
  const auto bias_correction2_sqrt =
      static_cast<float>(std::sqrt(1.0 - std::pow(static_cast<double>(config_.beta2), t)));
  const float one_minus_beta1 = 1.0f - config_.beta1;
  const float one_minus_beta2 = 1.0f - config_.beta2;
  float* m = state_.data();
  float* v = state_.data() + num_parameters_;
  for (int64_t i = 0; i < num_parameters_; ++i) {
    const float g = gradients[i] + weight_decay * parameters[i];
    m[i] += one_minus_beta1 * (g - m[i]);
    v[i] = config_.beta2 * v[i] + one_minus_beta2 * g * g;
    parameters[i] -= step_size * m[i] / (std::sqrt(v[i]) / bias_correction2_sqrt + config_.eps);
  }
}

}  // namespace rowshard
