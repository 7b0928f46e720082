// What a checkpoint reads and writes of a collection: its tables' configs,
// how each is laid out over the ranks, and this rank's part of each table
// and of its optimizer state. Adapters for both collection types.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "rowshard/engine/embedding_bag_collection.h"
#include "rowshard/sharding/communicator.h"
#include "rowshard/sharding/sharded_collection.h"

namespace rowshard::checkpoint {

class CheckpointTables {
 public:
  virtual ~CheckpointTables() = default;
  virtual Communicator& communicator() = 0;
  virtual int64_t num_tables() const = 0;
  virtual const CollectionTableConfig& config(int64_t t) const = 0;
  virtual const ShardLayout& layout(int64_t t) const = 0;
  // This rank's part of table t, and its optimizer.
  virtual EmbeddingBag& shard(int64_t t) = 0;
  virtual RowOptimizer& optimizer(int64_t t) = 0;
};

// Optimizer state per row of a table part with `columns` columns: row-wise
// Adagrad keeps one float per row, Adagrad one per weight, SGD none.
int64_t state_columns(OptimizerKind kind, int64_t columns);

// Everything of a table's config besides its shape, dtype and optimizer
// kind that changes its future results, by name, as text: pooling mode,
// padding_idx, max_norm, norm_type, scale_grad_by_freq, stochastic
// rounding (and then the seed, which drives it), and the optimizer's
// hyper-parameters. A checkpoint
// stores them and a restore refuses a collection that differs in any.
std::vector<std::pair<std::string, std::string>> table_settings(
    const CollectionTableConfig& config);

std::unique_ptr<CheckpointTables> tables_of(ShardedEmbeddingBagCollection& collection);
// A single-process collection, seen as every table row-wise on one rank.
std::unique_ptr<CheckpointTables> tables_of(EmbeddingBagCollection& collection);

}  // namespace rowshard::checkpoint
