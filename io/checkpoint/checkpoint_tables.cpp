#include "rowshard/io/checkpoint/checkpoint_tables.h"

#include <nlohmann/json.hpp>

namespace rowshard::checkpoint {
namespace {

class ShardedTables final : public CheckpointTables {
 public:
  explicit ShardedTables(ShardedEmbeddingBagCollection& collection) : collection_(collection) {}
  Communicator& communicator() override { return collection_.communicator(); }
  int64_t num_tables() const override { return collection_.num_tables(); }
  const CollectionTableConfig& config(int64_t t) const override {
    return collection_.table_config(t);
  }
  const ShardLayout& layout(int64_t t) const override { return collection_.layout(t); }
  EmbeddingBag& shard(int64_t t) override { return collection_.mutable_shard(t); }
  RowOptimizer& optimizer(int64_t t) override { return *collection_.shard_optimizer(t); }

 private:
  ShardedEmbeddingBagCollection& collection_;
};

class LocalTables final : public CheckpointTables {
 public:
  explicit LocalTables(EmbeddingBagCollection& collection)
      : collection_(collection), comm_(local_communicator()) {
    for (int64_t t = 0; t < collection.num_tables(); ++t)
      layouts_.emplace_back(ShardingKind::row_wise, RowPlacement::contiguous, 0,
                            collection.table(t).num_embeddings(),
                            collection.table(t).embedding_dim(), 1);
  }
  Communicator& communicator() override { return *comm_; }
  int64_t num_tables() const override { return collection_.num_tables(); }
  const CollectionTableConfig& config(int64_t t) const override {
    return collection_.table_config(t);
  }
  const ShardLayout& layout(int64_t t) const override { return layouts_[t]; }
  EmbeddingBag& shard(int64_t t) override { return collection_.mutable_table(t); }
  RowOptimizer& optimizer(int64_t t) override { return collection_.optimizer(t); }

 private:
  EmbeddingBagCollection& collection_;
  std::unique_ptr<Communicator> comm_;
  std::vector<ShardLayout> layouts_;
};

}  // namespace

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

std::unique_ptr<CheckpointTables> tables_of(ShardedEmbeddingBagCollection& collection) {
  return std::make_unique<ShardedTables>(collection);
}

std::unique_ptr<CheckpointTables> tables_of(EmbeddingBagCollection& collection) {
  return std::make_unique<LocalTables>(collection);
}

}  // namespace rowshard::checkpoint
