// EmbeddingCollection: what every collection of embedding tables offers a
// trainer, whether its tables live in this process (EmbeddingBagCollection)
// or are split over the ranks of a communicator
// (ShardedEmbeddingBagCollection). A trainer written against this interface
// runs sharded by changing only how the collection is built; checkpoints
// save and restore either.
//
// The state is read-only from here: tables change through step() (and
// max_norm lookups), and through the loaders of rowshard/io (checkpoint
// restore, pretrained files).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rowshard/engine/embedding_bag.h"
#include "rowshard/engine/keyed_jagged_batch.h"
#include "rowshard/engine/optimizers/optimizer_config.h"
#include "rowshard/engine/shard_layout.h"
#include "rowshard/engine/tensor.h"

namespace rowshard {

class Backend;

struct CollectionTableConfig {
  // name, num_embeddings, embedding_dim, mode, padding_idx, max_norm,
  // scale_grad_by_freq, dtype, seed. include_last_offset is refused: a
  // KeyedJaggedBatch's offsets always include the last one.
  EmbeddingBagOptions table{};
  OptimizerConfig optimizer{};
};

struct FeatureConfig {
  std::string name{};
  std::string table{};
  // Reads the batch's per-sample weights; only for sum-pooled tables.
  bool weighted = false;
};

// One feature's pooled rows inside a collection output: row b is
// data[b * stride .. b * stride + dim).
struct FeatureView {
  const float* data = nullptr;
  int64_t batch_size = 0;
  int64_t dim = 0;
  int64_t stride = 0;

  std::span<const float> row(int64_t b) const {
    return {data + b * stride, static_cast<std::size_t>(dim)};
  }
};

namespace detail {
// What a collection keeps from a forward for its step(); each collection
// has its own.
struct LookupState;
// The loaders' access to a collection's tables (rowshard/io).
class CollectionLoader;
}  // namespace detail

// What forward() returns: the pooled output of this process's examples, and
// what step() needs, which only the collection that made it can read.
struct CollectionLookup {
  Tensor output;  // [batch_size, total_dim]
  std::shared_ptr<const detail::LookupState> saved{};
};

class EmbeddingCollection {
 public:
  virtual ~EmbeddingCollection();
  EmbeddingCollection(const EmbeddingCollection&) = delete;
  EmbeddingCollection& operator=(const EmbeddingCollection&) = delete;

  // Pools every feature of this process's examples. The batch's keys must
  // be the features in config order. Checks the whole batch first (keys,
  // lengths or offsets, ids against their tables, weights); on error it
  // throws naming the feature and the table, and no table has changed.
  virtual CollectionLookup forward(const KeyedJaggedBatch& batch) = 0;

  // The output of forward() alone, for evaluation and serving: the same
  // bits and checks, but like a PyTorch forward under torch.no_grad() it
  // keeps nothing for a backward. max_norm still renormalizes the rows it
  // reads.
  virtual Tensor forward_no_grad(const KeyedJaggedBatch& batch) = 0;

  // One fused training step from the gradient of lookup.output: every
  // table's touched rows, each summed once over all its features (and
  // ranks), updated by that table's optimizer. Frozen tables are skipped.
  // Throws InvalidArgument for a lookup another collection made.
  virtual void step(const CollectionLookup& lookup, std::span<const float> grad_output) = 0;

  // Table t's gradient in PyTorch's sparse=True form (coalesced), on the
  // rows this process holds (local row indices; column-wise, its columns),
  // for callers with their own optimizer.
  virtual SparseGradient sparse_gradient(const CollectionLookup& lookup,
                                         std::span<const float> grad_output, int64_t t) = 0;

  int64_t num_tables() const { return static_cast<int64_t>(tables_.size()); }
  int64_t num_features() const { return static_cast<int64_t>(features_.size()); }
  int64_t total_dim() const { return column_offsets_.back(); }
  const CollectionTableConfig& table_config(int64_t t) const { return tables_[t]; }
  const FeatureConfig& feature(int64_t f) const { return features_[f]; }
  // The table feature f reads, and the first output column of feature f.
  int64_t table_of(int64_t f) const { return table_of_feature_[f]; }
  int64_t column_offset(int64_t f) const { return column_offsets_[f]; }

  // Feature f's (or the named feature's) pooled rows within an output of
  // this collection; an unknown name throws InvalidArgument.
  FeatureView feature_view(const Tensor& output, int64_t f) const;
  FeatureView feature_view(const Tensor& output, std::string_view feature) const;

  // How table t is laid out over the ranks (one rank in one process), and
  // the part of it this process holds, with that part's optimizer state:
  // local row i is global row layout(t).global_row(rank(), i).
  virtual int rank() const = 0;
  virtual const ShardLayout& layout(int64_t t) const = 0;
  virtual const EmbeddingBag& local_table(int64_t t) const = 0;
  virtual const RowOptimizer& local_optimizer(int64_t t) const = 0;

  // How errors name this collection.
  std::string_view kind() const { return kind_; }

 protected:
  // Checks and records the tables and features: names unique, each feature
  // reading a table of the collection, weighted features only on sum-pooled
  // tables, include_last_offset refused, every table on one device (with a
  // backend in this build). Throws InvalidArgument naming the offender.
  EmbeddingCollection(std::string_view kind, std::vector<CollectionTableConfig> tables,
                      std::vector<FeatureConfig> features);

  // The kernels of the collection's device, where all its tables live.
  const Backend& backend() const { return *backend_; }
  // "<kind> feature 'f' (table 't')": how errors name feature f.
  std::string feature_owner(int64_t f) const;
  std::span<const std::string> feature_names() const { return feature_names_; }
  // The checks of forward() that come before any id is read; returns the
  // bags' bounds (see jagged_bounds).
  std::vector<int64_t> checked_bounds(const KeyedJaggedBatch& batch) const;
  // The lookup's saved state, if this collection made it; InvalidArgument
  // otherwise.
  const detail::LookupState& state_of(const CollectionLookup& lookup) const;

 private:
  friend class detail::CollectionLoader;
  // Fills out[c] with column first_column + c of global row `row`.
  using RowReader = std::function<void(int64_t row, int64_t first_column, std::span<float> out)>;
  // The loaders' hooks: this process's part of table t, its optimizer, and
  // its replacement by rows from `read_row`, asking only for the rows and
  // columns this process holds (a frozen table takes no steps).
  virtual EmbeddingBag& mutable_local_table(int64_t t) = 0;
  virtual RowOptimizer& mutable_local_optimizer(int64_t t) = 0;
  void load_local_table(int64_t t, const RowReader& read_row, bool freeze);

  std::string kind_;
  const Backend* backend_ = nullptr;
  std::vector<CollectionTableConfig> tables_;
  std::vector<FeatureConfig> features_;
  std::vector<std::string> feature_names_;
  std::vector<int64_t> table_of_feature_;
  std::vector<int64_t> column_offsets_;  // features + 1
};

}  // namespace rowshard
