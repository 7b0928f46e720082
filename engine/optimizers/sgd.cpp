#include "rowshard/engine/optimizers/sgd.h"

#include "engine/optimizers/validate_options.h"

namespace rowshard {

Sgd::Sgd(int64_t num_rows, int64_t dim, SgdOptions options)
    : num_rows_(num_rows), dim_(dim), options_(options) {
  check_learning_rate("sgd", options.lr);
  check_weight_decay("sgd", options.weight_decay);
}

void Sgd::update_row(int64_t, std::span<float> weights, std::span<const float> gradient) {
  const float lr = options_.lr;
  const float decay = options_.weight_decay;
  for (std::size_t d = 0; d < weights.size(); ++d) {
    const float g = decay > 0.0f ? gradient[d] + decay * weights[d] : gradient[d];
    weights[d] -= lr * g;
  }
}

}  // namespace rowshard
