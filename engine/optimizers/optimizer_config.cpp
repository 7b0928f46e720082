#include "rowshard/engine/optimizers/optimizer_config.h"

#include "rowshard/engine/optimizers/adagrad.h"
#include "rowshard/engine/optimizers/rowwise_adagrad.h"
#include "rowshard/engine/optimizers/sgd.h"

namespace rowshard {

std::string_view optimizer_kind_name(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::sgd: return "sgd";
    case OptimizerKind::adagrad: return "adagrad";
    case OptimizerKind::rowwise_adagrad: return "rowwise_adagrad";
  }
  return "?";
}

std::optional<OptimizerKind> parse_optimizer_kind(std::string_view name) {
  for (OptimizerKind kind :
       {OptimizerKind::sgd, OptimizerKind::adagrad, OptimizerKind::rowwise_adagrad})
    if (name == optimizer_kind_name(kind)) return kind;
  return std::nullopt;
}

std::unique_ptr<RowOptimizer> make_optimizer(const OptimizerConfig& config, int64_t num_rows,
                                             int64_t dim, MemoryPlacement placement) {
  switch (config.kind) {
    case OptimizerKind::sgd:
      return std::make_unique<Sgd>(num_rows, dim, SgdOptions{config.lr, config.weight_decay});
    case OptimizerKind::adagrad:
      return std::make_unique<Adagrad>(
          num_rows, dim,
          AdagradOptions{config.lr, config.eps.value_or(AdagradOptions{}.eps), config.weight_decay,
                         config.initial_accumulator_value},
          placement);
    case OptimizerKind::rowwise_adagrad: break;
  }
  return std::make_unique<RowWiseAdagrad>(
      num_rows, dim,
      RowWiseAdagradOptions{config.lr, config.eps.value_or(RowWiseAdagradOptions{}.eps),
                            config.weight_decay, config.initial_accumulator_value},
      placement);
}

}  // namespace rowshard
