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
// The tables live in this process; ShardedEmbeddingBagCollection is the
// same interface (EmbeddingCollection) over tables split across ranks.
//
// Thread safety as for Table: one call at a time; each call uses OpenMP.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "rowshard/engine/embedding_collection.h"

namespace rowshard {

class EmbeddingBagCollection final : public EmbeddingCollection {
 public:
  // Builds every table (N(0, 1) from its seed) and its optimizer. Throws
  // InvalidArgument for duplicate names, a feature naming no table, a
  // weighted feature on a table that is not sum-pooled, and whatever a
  // table's or optimizer's own options are refused for.
  EmbeddingBagCollection(std::vector<CollectionTableConfig> tables,
                         std::vector<FeatureConfig> features);

  // Ids of a max_norm table are all checked before it renormalizes a row;
  // the others are checked by the pooling kernels as they read them.
  CollectionLookup forward(const KeyedJaggedBatch& batch) override;
  Tensor forward_no_grad(const KeyedJaggedBatch& batch) override;
  void step(const CollectionLookup& lookup, std::span<const float> grad_output) override;
  SparseGradient sparse_gradient(const CollectionLookup& lookup, std::span<const float> grad_output,
                                 int64_t t) override;

  int rank() const override { return 0; }
  const ShardLayout& layout(int64_t t) const override { return layouts_[t]; }
  const EmbeddingBag& local_table(int64_t t) const override { return tables_[t]; }
  const RowOptimizer& local_optimizer(int64_t t) const override { return *optimizers_[t]; }

 private:
  struct SavedBatch;

  EmbeddingBag& mutable_local_table(int64_t t) override { return tables_[t]; }
  RowOptimizer& mutable_local_optimizer(int64_t t) override { return *optimizers_[t]; }

  std::vector<GradientSource> gradient_sources(const SavedBatch& saved,
                                               std::span<const float> grad_output,
                                               int64_t table) const;
  // Feature f's ids within a batch whose bounds jagged_bounds gave.
  std::span<const int64_t> feature_ids(const KeyedJaggedBatch& batch,
                                       std::span<const int64_t> bounds, int64_t f) const;
  bool any_max_norm() const;
  // Renormalizes the rows of every feature's ids under max_norm.
  void renormalize(const KeyedJaggedBatch& batch, std::span<const int64_t> bounds);
  // Checks every feature's ids of `batch`, copying them to id_copy if
  // given, applies max_norm, and pools them into `output` (and, for
  // max-pooled tables, `max_positions`). An id out of range throws, naming
  // its feature, before anything is written but the output.
  void pool(const KeyedJaggedBatch& batch, std::span<const int64_t> bounds, int64_t* id_copy,
            Tensor& output, std::vector<int64_t>& max_positions);

  std::vector<EmbeddingBag> tables_;
  std::vector<std::unique_ptr<RowOptimizer>> optimizers_;
  std::vector<ShardLayout> layouts_;  // each table whole, on rank 0 of 1
};

}  // namespace rowshard
