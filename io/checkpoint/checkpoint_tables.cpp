#include "io/checkpoint/checkpoint_tables.h"

#include <nlohmann/json.hpp>

#include "engine/collection_loader.h"
#include "rowshard/sharding/sharded_collection.h"

namespace rowshard::checkpoint {

CheckpointTables::CheckpointTables(EmbeddingCollection& collection) : collection_(collection) {
  if (auto* sharded = dynamic_cast<ShardedEmbeddingBagCollection*>(&collection)) {
    communicator_ = &sharded->communicator();
  } else {
    one_rank_ = local_communicator();
    communicator_ = one_rank_.get();
  }
}

EmbeddingBag& CheckpointTables::shard(int64_t t) {
  return detail::CollectionLoader::local_table(collection_, t);
}

RowOptimizer& CheckpointTables::optimizer(int64_t t) {
  return detail::CollectionLoader::local_optimizer(collection_, t);
}

std::vector<std::pair<std::string, std::string>> table_settings(
    const CollectionTableConfig& config) {
  const EmbeddingBagOptions& table = config.table;
  const OptimizerConfig& optimizer = config.optimizer;
  // Numbers as JSON writes them: the shortest text that reads back the same.
  const auto text = [](const auto& value) { return nlohmann::json(value).dump(); };
  const auto optional_text = [&](const auto& value) {
    return value ? text(*value) : std::string("none");
  };
  std::vector<std::pair<std::string, std::string>> settings = {
      {"mode", std::string(pooling_mode_name(table.mode))},
      {"padding_idx", optional_text(table.padding_idx)},
      {"max_norm", optional_text(table.max_norm)},
      {"norm_type", text(table.norm_type)},
      {"scale_grad_by_freq", text(table.scale_grad_by_freq)},
      {"stochastic_rounding", text(table.stochastic_rounding)},
      {"lr", text(optimizer.lr)},
      {"eps", optional_text(optimizer.eps)},
      {"weight_decay", text(optimizer.weight_decay)},
      {"initial_accumulator_value", text(optimizer.initial_accumulator_value)}};
  // The seed only draws initial values, which a restore replaces, unless it
  // also seeds stochastic rounding.
  if (table.stochastic_rounding) settings.emplace_back("seed", text(table.seed));
  return settings;
}

int64_t state_columns(OptimizerKind kind, int64_t columns) {
  switch (kind) {
    case OptimizerKind::sgd: return 0;
    case OptimizerKind::adagrad: return columns;
    case OptimizerKind::rowwise_adagrad: break;
  }
  return 1;
}

}  // namespace rowshard::checkpoint
