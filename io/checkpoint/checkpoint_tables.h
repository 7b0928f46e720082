// What a checkpoint reads and writes of a collection, on this rank: the
// tables' configs, how each is laid out over the ranks, this rank's part of
// each table and of its optimizer state, and the communicator the ranks
// save and restore over (a one-rank one for a single-process collection).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "rowshard/engine/embedding_collection.h"
#include "rowshard/sharding/communicator.h"

namespace rowshard::checkpoint {

class CheckpointTables {
 public:
  explicit CheckpointTables(EmbeddingCollection& collection);

  Communicator& communicator() { return *communicator_; }
  int64_t num_tables() const { return collection_.num_tables(); }
  const CollectionTableConfig& config(int64_t t) const { return collection_.table_config(t); }
  const ShardLayout& layout(int64_t t) const { return collection_.layout(t); }
  // This rank's part of table t, and its optimizer, to read or restore.
  EmbeddingBag& shard(int64_t t);
  RowOptimizer& optimizer(int64_t t);

 private:
  EmbeddingCollection& collection_;
  std::unique_ptr<Communicator> one_rank_;  // single-process collections only
  Communicator* communicator_;
};

// Optimizer state per row of a table part with `columns` columns: row-wise
// Adagrad keeps one float per row, Adagrad one per weight, SGD none.
int64_t state_columns(OptimizerKind kind, int64_t columns);

// Everything of a table's config besides its shape, dtype and optimizer
// kind that changes its future results, by name, as text: pooling mode,
// padding_idx, max_norm, norm_type, scale_grad_by_freq, stochastic
// rounding (and then the seed, which drives it), and the optimizer's
// hyper-parameters. A checkpoint stores them and a restore refuses a
// collection that differs in any.
std::vector<std::pair<std::string, std::string>> table_settings(
    const CollectionTableConfig& config);

}  // namespace rowshard::checkpoint
