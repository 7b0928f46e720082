#include "io/checkpoint/checkpoint_tables.h"

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
