// ShardedEmbeddingBagCollection::forward and forward_no_grad: route ids to
// their owners, pool on the owners, bring partial results back and reduce
// them. The phases are in forward_source.cpp (routes and ids out),
// forward_owner.cpp (pooling on the owners), forward_reduce.cpp (partial
// results back) and forward_data_parallel.cpp.
#include <utility>

#include "engine/bag_layout.h"
#include "engine/stopwatch.h"
#include "rowshard/engine/error.h"
#include "rowshard/sharding/sharded_collection.h"
#include "sharding/forward_messages.h"
#include "sharding/input_agreement.h"
#include "sharding/saved_exchange.h"

namespace rowshard {

using detail::SavedExchange;

CollectionLookup ShardedEmbeddingBagCollection::forward(const KeyedJaggedBatch& local_batch) {
  return pool(local_batch, /*keep_for_backward=*/true);
}

Tensor ShardedEmbeddingBagCollection::forward_no_grad(const KeyedJaggedBatch& local_batch) {
  return pool(local_batch, /*keep_for_backward=*/false).output;
}

// The exchange state lives in `saved` during the call either way: the
// reduction reads the routes, and max features the winners' positions.
CollectionLookup ShardedEmbeddingBagCollection::pool(const KeyedJaggedBatch& local_batch,
                                                     bool keep_for_backward) {
  const auto start = SteadyClock::now();
  const int64_t sent_before = comm_.bytes_sent();
  const int64_t received_before = comm_.bytes_received();
  stats_ = {};
  auto saved = std::make_shared<SavedExchange>();
  CollectivePhase phase(comm_, Phase::input_exchange);
  saved->bounds = agreed_bounds(local_batch);
  detail::OutgoingIds outgoing = route_entries(local_batch, *saved);
  const std::vector<std::vector<int64_t>> bag_entries = outgoing.bag_entries;
  const detail::ReceivedIds ids = exchange_ids(std::move(outgoing), saved->routes);
  stats_.input_exchange_seconds = seconds_since(start);

  const auto lookup_start = SteadyClock::now();
  rebuild_blocks(ids, *saved);
  detail::Replies replies = pool_owned_rows(*saved);
  stats_.lookup_seconds = seconds_since(lookup_start);

  const auto output_start = SteadyClock::now();
  phase.switch_to(Phase::output_exchange);
  CollectionLookup lookup;
  saved->batch_size = local_batch.batch_size;
  saved->collection = this;
  lookup.output.shape = {local_batch.batch_size, total_dim()};
  lookup.output.values.assign(local_batch.batch_size * total_dim(), 0.0f);
  reduce_replies(exchange_replies(std::move(replies)), bag_entries, *saved,
                 lookup.output.values.data());
  pool_data_parallel(local_batch, *saved, lookup.output);
  stats_.output_exchange_seconds = seconds_since(output_start);
  stats_.bytes_sent = comm_.bytes_sent() - sent_before;
  stats_.bytes_received = comm_.bytes_received() - received_before;
  if (keep_for_backward) {
    saved->values.assign(local_batch.values.begin(), local_batch.values.end());
    if (local_batch.weights)
      saved->weights.assign(local_batch.weights->begin(), local_batch.weights->end());
    lookup.saved = std::move(saved);
  }
  return lookup;
}

std::vector<int64_t> ShardedEmbeddingBagCollection::agreed_bounds(
    const KeyedJaggedBatch& local_batch) const {
  const int64_t batch_size = local_batch.batch_size;
  std::vector<int64_t> bounds;
  agree_on_input(comm_, [&] {
    bounds = jagged_bounds(kName, local_batch, feature_names());
    for (int64_t f = 0; f < num_features(); ++f) {
      const int64_t first = bounds[f * batch_size];
      const int64_t end = bounds[(f + 1) * batch_size];
      check_indices_in_range(feature_owner(f), local_batch.values.subspan(first, end - first),
                             table_config(table_of(f)).table.num_embeddings);
      if (feature(f).weighted && !local_batch.weights)
        throw InvalidArgument(message(kName, " feature '", feature(f).name,
                                      "': the feature is weighted but the batch "
                                      "has no weights"));
    }
  });
  return bounds;
}

}  // namespace rowshard
