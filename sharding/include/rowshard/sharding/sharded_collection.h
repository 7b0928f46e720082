// ShardedEmbeddingBagCollection: the collection's interface over tables
// split across the ranks of a Communicator (DESIGN.md, "Sharding").
//
// Each rank passes the batch of its own examples and gets their pooled
// output back, exactly as an unsharded collection would compute it on the
// global batch (to float tolerance: partial sums are added in rank order).
//
//   row-wise / table-wise: each id travels to the rank owning its row, once
//     per distinct id per step (with an inverse map to rebuild bags); owners
//     pool partial results per (source rank, bag) that travel back and are
//     reduced in rank order. The backward sends each bag's gradient back
//     along the same route and each owner applies the fused optimizer.
//   column-wise: every id goes to every rank, each pools its columns; row-wise
//     Adagrad stays exact by summing each row's squares over all columns.
//   data-parallel: every rank holds the table; gradients are all-reduced.
//
// Every method is collective: all ranks call it in the same order. Bad input
// on any rank is reported on every rank (same message, naming the rank)
// before anything moves or changes, so no rank applies a half update.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "rowshard/engine/embedding_collection.h"
#include "rowshard/engine/shard_layout.h"
#include "rowshard/sharding/collectives.h"
#include "rowshard/sharding/communicator.h"

namespace rowshard {

struct ShardedCollectionOptions {
  // Send each distinct id once per (table, owner) instead of once per
  // occurrence. Off only to measure what it saves. Ids a rank owns itself
  // are never sent, so they are never deduplicated.
  bool deduplicate_ids = true;
};

// Where a step's time and bytes went on this rank.
struct StepStats {
  double input_exchange_seconds = 0;
  double lookup_seconds = 0;
  double output_exchange_seconds = 0;
  double backward_seconds = 0;
  int64_t bytes_sent = 0;
  int64_t bytes_received = 0;
  int64_t ids_sent = 0;  // after deduplication
};

// Internal to sharding/ (saved_exchange.h, forward_messages.h).
namespace detail {
struct SavedExchange;
struct RouteTable;
struct OutgoingIds;
struct ReceivedIds;
struct Replies;
struct ReceivedReplies;
}  // namespace detail

class ShardedEmbeddingBagCollection final : public EmbeddingCollection {
 public:
  // How errors name this collection.
  static constexpr std::string_view kName = "ShardedEmbeddingBagCollection";

  // `sharding` has one entry per table. Every rank builds the same
  // collection; each keeps only its shards, initialised to exactly the
  // values the unsharded table would have there. Throws InvalidArgument for
  // what the collection refuses, and for options a sharding cannot honour
  // (max_norm on column-wise or data-parallel tables, scale_grad_by_freq on
  // data-parallel ones, column-wise tables with fewer columns than ranks, a
  // table-wise home rank past the last rank); a padding_idx out of range is
  // OutOfRange.
  ShardedEmbeddingBagCollection(Communicator& comm, std::vector<CollectionTableConfig> tables,
                                std::vector<TableSharding> sharding,
                                std::vector<FeatureConfig> features,
                                ShardedCollectionOptions options = {});
  ~ShardedEmbeddingBagCollection() override;

  // The EmbeddingCollection calls, each collective: every rank calls them in
  // the same order, with its own examples (forward) and their gradient
  // (step). sparse_gradient gives table t's gradient on this rank's shard;
  // every rank asks for the same t.
  CollectionLookup forward(const KeyedJaggedBatch& local_batch) override;
  Tensor forward_no_grad(const KeyedJaggedBatch& local_batch) override;
  void step(const CollectionLookup& lookup, std::span<const float> grad_output) override;
  SparseGradient sparse_gradient(const CollectionLookup& lookup, std::span<const float> grad_output,
                                 int64_t t) override;

  int rank() const override { return comm_.rank(); }
  const ShardLayout& layout(int64_t t) const override { return layouts_[t]; }
  const EmbeddingBag& local_table(int64_t t) const override { return shards_[t].table; }
  const RowOptimizer& local_optimizer(int64_t t) const override { return *shards_[t].optimizer; }
  const StepStats& last_stats() const { return stats_; }
  Communicator& communicator() { return comm_; }

 private:
  // This rank's part of one table, and the optimizer state of that part.
  struct Shard {
    EmbeddingBag table;
    std::unique_ptr<RowOptimizer> optimizer;
  };

  // This rank's part of a table laid out as `layout`, initialised to the
  // values the unsharded table has there.
  Shard build_shard(const CollectionTableConfig& config, const ShardLayout& layout) const;

  // forward() and forward_no_grad(): pools local_batch. Without
  // keep_for_backward, the result's `saved` is null and what only a
  // backward reads is dropped with the call.
  CollectionLookup pool(const KeyedJaggedBatch& local_batch, bool keep_for_backward);
  EmbeddingBag& mutable_local_table(int64_t t) override { return shards_[t].table; }
  RowOptimizer& mutable_local_optimizer(int64_t t) override { return *shards_[t].optimizer; }
  // The exchange state forward() saved in `lookup`, if this collection made it.
  const detail::SavedExchange& saved_of(const CollectionLookup& lookup) const;

  // pool()'s phases, in order (sharded_forward.cpp and forward_*.cpp).
  // Checks local_batch with every rank and gives its jagged bounds.
  // Collective.
  std::vector<int64_t> agreed_bounds(const KeyedJaggedBatch& local_batch) const;
  // Source side: which owners each entry goes to; fills saved.routes.
  detail::OutgoingIds route_entries(const KeyedJaggedBatch& local_batch,
                                    detail::SavedExchange& saved) const;
  // Sends each owner its entries, each distinct id once per table when
  // deduplicating. Collective.
  detail::ReceivedIds exchange_ids(detail::OutgoingIds outgoing, const detail::RouteTable& routes);
  // Appends each owner's distinct rows per routed table to `rows_to`
  // ([owner]) and gives each entry's slot among them, [owner][routed feature].
  std::vector<std::vector<std::vector<int32_t>>> distinct_rows(
      const detail::OutgoingIds& outgoing, std::vector<std::vector<int64_t>>& rows_to);
  // Owner side: each source's bags of each routed feature, over our shard.
  void rebuild_blocks(const detail::ReceivedIds& received, detail::SavedExchange& saved) const;
  // Owner side: pools the blocks; gives the replies to the sources.
  detail::Replies pool_owned_rows(detail::SavedExchange& saved);
  detail::ReceivedReplies exchange_replies(detail::Replies replies);
  // Source side: adds the owners' partial results into `output` in rank
  // order; records the winners of row-routed max features.
  void reduce_replies(const detail::ReceivedReplies& replies,
                      const std::vector<std::vector<int64_t>>& bag_entries,
                      detail::SavedExchange& saved, float* output) const;
  // Pools the data-parallel features into `output` on this rank's replica.
  void pool_data_parallel(const KeyedJaggedBatch& local_batch, detail::SavedExchange& saved,
                          Tensor& output) const;
  // Features whose ids travel (tables that are not data-parallel).
  std::vector<int64_t> routed_features() const;
  // The backward's exchange: each owner gets, from each source rank, the
  // gradient rows of the bags it pooled for it. Collective.
  ReceivedArrays<float> exchange_gradients(const CollectionLookup& lookup,
                                           std::span<const float> grad_output);
  // Owner side: table t's gradient sources, one per (feature, source rank),
  // the order the unsharded collection sums a row's entries in.
  std::vector<GradientSource> owner_sources(int64_t t, const CollectionLookup& lookup,
                                            const ReceivedArrays<float>& gradients) const;
  // Data-parallel: table t's gradient summed over all ranks, on the rows
  // any rank looked up. Collective.
  SparseGradient data_parallel_gradient(int64_t t, const CollectionLookup& lookup,
                                        std::span<const float> grad_output);

  Communicator& comm_;
  ShardedCollectionOptions options_;
  std::vector<ShardLayout> layouts_;
  std::vector<Shard> shards_;
  StepStats stats_;
};

}  // namespace rowshard
