// An optimizer described by value, for configs and collections that build
// one optimizer per table.
#pragma once

#include <memory>
#include <optional>
#include <string_view>

#include "rowshard/engine/optimizers/optimizer.h"
#include "rowshard/engine/row_storage.h"

namespace rowshard {

enum class OptimizerKind { sgd, adagrad, rowwise_adagrad };

std::string_view optimizer_kind_name(OptimizerKind kind);
// Parses "sgd" / "adagrad" / "rowwise_adagrad"; nullopt for anything else.
std::optional<OptimizerKind> parse_optimizer_kind(std::string_view name);

struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::rowwise_adagrad;
  float lr = 0.01f;
  // Unset: the optimizer's own default (1e-10 Adagrad, 1e-8 row-wise).
  std::optional<float> eps{};
  float weight_decay = 0.0f;
  float initial_accumulator_value = 0.0f;
};

// An optimizer of `config`'s kind for a [num_rows, dim] table, its state
// placed as the table's weights are (Table::placement(): a cuda table's
// optimizer keeps its state where the GPU kernels read it). Throws
// InvalidArgument for options out of range.
std::unique_ptr<RowOptimizer> make_optimizer(const OptimizerConfig& config, int64_t num_rows,
                                             int64_t dim,
                                             MemoryPlacement placement = MemoryPlacement::host);

}  // namespace rowshard
