// EmbeddingBagCollection: many tables, many features, one fused call per
// step (FBGEMM's TableBatchedEmbeddingBags, TorchRec's
// EmbeddingBagCollection).
//
//   EmbeddingBagCollection collection(
//       {{.table = items_options, .optimizer = {.lr = 0.05f}},
//        {.table = users_options}},
//       {{.name = "clicked_items", .table = "items"},
//        {.name = "viewed_items", .table = "items"},    // shares "items"
//        {.name = "user", .table = "users"}});
//   const std::vector<std::string> keys = {"clicked_items", "viewed_items", "user"};
//   const KeyedJaggedBatch batch{
//       .keys = keys, .batch_size = 32, .values = ids, .lengths = lengths};
//   CollectionLookup lookup = collection.forward(batch);  // [B, sum of dims]
//   collection.step(lookup, grad_output);                 // fused, all tables
//   Tensor scores = collection.forward_no_grad(batch);    // evaluation
//
// Features that share a table share its rows and its updates: in step(), a
// row looked up by several features gets one summed gradient and one update.
// The output concatenates the features' pooled vectors in config order
// (TorchRec's KeyedTensor layout).
//
// Thread safety as for Table: one call at a time; each call uses OpenMP.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "rowshard/engine/default_init_allocator.h"
#include "rowshard/engine/embedding_bag.h"
#include "rowshard/engine/keyed_jagged_batch.h"
#include "rowshard/engine/optimizers/optimizer_config.h"

namespace rowshard {

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

// What forward returns: the output, and what step() needs.
struct CollectionLookup {
  Tensor output;  // [batch_size, total_dim]
  std::vector<int64_t, DefaultInitAllocator<int64_t>> values;
  std::vector<int64_t> bounds;  // [features * batch_size + 1]
  std::vector<float> weights;
  std::vector<int64_t> max_positions;  // like output, for max-pooled features
  int64_t batch_size = 0;
};

class EmbeddingBagCollection {
 public:
  // Builds every table (N(0, 1) from its seed) and its optimizer. Throws
  // InvalidArgument for duplicate names, a feature naming no table, a
  // weighted feature on a table that is not sum-pooled, and whatever a
  // table's or optimizer's own options are refused for.
  EmbeddingBagCollection(std::vector<CollectionTableConfig> tables,
                         std::vector<FeatureConfig> features);

  // Pools every feature of `batch`. Checks the whole batch (lengths or
  // offsets, ids of every feature against its table, weights); on error it
  // throws naming the feature and the table, and no table has changed (ids
  // of a max_norm table are all checked before it renormalizes a row; the
  // others are checked by the pooling kernels as they read them).
  CollectionLookup forward(const KeyedJaggedBatch& batch);

  // The output of forward() alone, for evaluation and serving: like a
  // PyTorch forward under torch.no_grad(), it keeps nothing for a backward
  // (no copy of the batch's ids). Checks as forward() does, with the same
  // errors; max_norm still renormalizes the rows it reads.
  Tensor forward_no_grad(const KeyedJaggedBatch& batch);

  // One fused training step from the gradient of lookup.output: every
  // table's touched rows, each summed once over all its features, updated
  // by that table's optimizer. Frozen tables are skipped.
  void step(const CollectionLookup& lookup, std::span<const float> grad_output);

  // Table t's gradient in PyTorch's sparse=True form (coalesced), for
  // callers with their own optimizer.
  SparseGradient sparse_gradient(const CollectionLookup& lookup,
                                 std::span<const float> grad_output,
                                 int64_t table) const;

  // Feature f's pooled rows within an output of this collection; by name,
  // an unknown feature throws InvalidArgument.
  FeatureView feature_view(const Tensor& output, int64_t f) const;
  FeatureView feature_view(const Tensor& output, std::string_view feature) const;

  int64_t num_tables() const { return static_cast<int64_t>(tables_.size()); }
  int64_t num_features() const { return static_cast<int64_t>(features_.size()); }
  int64_t total_dim() const { return column_offsets_.back(); }
  const EmbeddingBag& table(int64_t t) const { return tables_[t]; }
  EmbeddingBag& mutable_table(int64_t t) { return tables_[t]; }
  const CollectionTableConfig& table_config(int64_t t) const { return configs_[t]; }
  RowOptimizer& optimizer(int64_t t) { return *optimizers_[t]; }
  const FeatureConfig& feature(int64_t f) const { return features_[f]; }
  // The table feature f reads, and the first output column of feature f.
  int64_t table_of(int64_t f) const { return table_of_feature_[f]; }
  int64_t column_offset(int64_t f) const { return column_offsets_[f]; }

 private:
  std::vector<GradientSource> gradient_sources(
      const CollectionLookup& lookup, std::span<const float> grad_output,
      int64_t table) const;
  std::string feature_owner(int64_t f) const;
  // Feature f's ids within a batch whose bounds jagged_bounds gave.
  std::span<const int64_t> feature_ids(const KeyedJaggedBatch& batch,
                                       std::span<const int64_t> bounds,
                                       int64_t f) const;
  // The checks of forward() that come before any id is read.
  std::vector<int64_t> checked_bounds(const KeyedJaggedBatch& batch) const;
  bool any_max_norm() const;
  // Renormalizes the rows of every feature's ids under max_norm.
  void renormalize(const KeyedJaggedBatch& batch, std::span<const int64_t> bounds);
  // Checks every feature's ids of `batch`, copying them to id_copy if
  // given, applies max_norm, and pools them into `output` (and, for
  // max-pooled tables, `max_positions`). An id out of range throws, naming
  // its feature, before anything is written but the output.
  void pool(const KeyedJaggedBatch& batch, std::span<const int64_t> bounds,
            int64_t* id_copy, Tensor& output, std::vector<int64_t>& max_positions);

  std::vector<CollectionTableConfig> configs_;
  std::vector<EmbeddingBag> tables_;
  std::vector<std::unique_ptr<RowOptimizer>> optimizers_;
  std::vector<FeatureConfig> features_;
  std::vector<std::string> feature_names_;
  std::vector<int64_t> table_of_feature_;
  std::vector<int64_t> column_offsets_;  // features + 1
};

}  // namespace rowshard
