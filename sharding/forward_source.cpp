// The forward's source side: which owner each entry of this rank's batch
// goes to (the routes the backward reuses), and the ids message that takes
// the entries there (its format is in forward_messages.h).
#include <algorithm>

#include "engine/bag_layout.h"
#include "engine/row_groups.h"
#include "rowshard/sharding/sharded_collection.h"
#include "sharding/forward_messages.h"
#include "sharding/saved_exchange.h"
#include "sharding/shard_storage.h"

namespace rowshard {
namespace {

using detail::Outbox;
using detail::OutgoingIds;
using detail::Route;
using detail::RouteTable;

// Each of `rows` (global rows of one table bound for one owner) as a slot
// among the distinct rows, which are appended to `message` as the owner's
// local rows: the count, then the rows. Without deduplication every entry
// is its own slot.
std::vector<int32_t> append_distinct_rows(const std::vector<int64_t>& rows,
                                          const ShardLayout& layout, bool deduplicate,
                                          std::vector<int64_t>& message) {
  std::vector<int32_t> slots(rows.size());
  const std::size_t count_at = message.size();
  message.push_back(0);
  if (deduplicate) {
    const RowGroups groups = group_by_row(rows, layout.num_rows());
    message.insert(message.end(), groups.rows.begin(), groups.rows.end());
    for (int64_t g = 0; g < groups.num_groups(); ++g)
      for (int64_t j = groups.group_begin[g]; j < groups.group_begin[g + 1]; ++j)
        slots[groups.order[j]] = static_cast<int32_t>(g);
  } else {
    message.insert(message.end(), rows.begin(), rows.end());
    for (std::size_t e = 0; e < rows.size(); ++e) slots[e] = static_cast<int32_t>(e);
  }
  message[count_at] = static_cast<int64_t>(message.size() - count_at - 1);
  if (layout.routed_by_row())
    for (std::size_t r = count_at + 1; r < message.size(); ++r)
      message[r] = layout.local_row(message[r]);
  return slots;
}

// The ints message to each owner but the slots: the batch size, the
// lengths, and the non-padding entry counts of the routes' bags.
Outbox<int32_t> bag_counts(const OutgoingIds& outgoing, const RouteTable& routes) {
  const auto ranks = static_cast<int>(routes.to.size());
  Outbox<int32_t> ints(ranks);
  for (int k = 0; k < ranks; ++k) {
    std::vector<int32_t>& message = ints.to[k];
    message.push_back(static_cast<int32_t>(outgoing.batch_size));
    for (const std::vector<int32_t>& lengths : outgoing.lengths[k])
      message.insert(message.end(), lengths.begin(), lengths.end());
  }
  for (std::size_t i = 0; i < outgoing.bag_entries.size(); ++i)
    for (int k = 0; k < ranks; ++k)
      for (int64_t b : routes.to[k][i].bags)
        ints.to[k].push_back(static_cast<int32_t>(outgoing.bag_entries[i][b]));
  return ints;
}

// The rest of the ints message: each entry's slot, feature after feature.
void append_slots(const std::vector<std::vector<std::vector<int32_t>>>& slots,
                  Outbox<int32_t>& ints) {
  for (std::size_t k = 0; k < slots.size(); ++k)
    for (const std::vector<int32_t>& feature_slots : slots[k])
      ints.to[k].insert(ints.to[k].end(), feature_slots.begin(), feature_slots.end());
}

// Where each route's bags travel in the float messages with its owner.
void lay_out_segments(const ShardedEmbeddingBagCollection& collection,
                      const std::vector<int64_t>& routed, RouteTable& routes) {
  routes.floats_to.assign(routes.to.size(), 0);
  for (std::size_t k = 0; k < routes.to.size(); ++k) {
    detail::MessageLayout message;
    for (std::size_t i = 0; i < routed.size(); ++i) {
      const int64_t t = collection.table_of(routed[i]);
      routes.to[k][i].segment =
          message.place(static_cast<int64_t>(routes.to[k][i].bags.size()),
                        collection.layout(t).local_dim(static_cast<int>(k)),
                        collection.table_config(t).table.mode == PoolingMode::max);
    }
    routes.floats_to[k] = message.floats();
  }
}

// Routed feature f (the i-th): its entries for each owner, and its routes.
void route_feature(const ShardedEmbeddingBagCollection& collection,
                   const KeyedJaggedBatch& local_batch, const std::vector<int64_t>& bounds,
                   int64_t f, int64_t i, OutgoingIds& outgoing, RouteTable& routes) {
  const auto ranks = static_cast<int>(routes.to.size());
  const int64_t batch_size = local_batch.batch_size;
  const int64_t t = collection.table_of(f);
  const ShardLayout& layout = collection.layout(t);
  const std::optional<int64_t> table_padding_row = padding_row(collection.table_config(t).table);
  const bool max_feature = collection.table_config(t).table.mode == PoolingMode::max;
  const bool weighted = collection.feature(f).weighted;
  for (int64_t b = 0; b < batch_size; ++b) {
    for (int64_t p = bounds[f * batch_size + b]; p < bounds[f * batch_size + b + 1]; ++p) {
      const int64_t row = local_batch.values[p];
      outgoing.bag_entries[i][b] += !(table_padding_row && row == *table_padding_row);
      const int first_owner = layout.routed_by_row() ? layout.owner_of(row) : 0;
      const int end_owner = layout.routed_by_row() ? first_owner + 1 : ranks;
      for (int k = first_owner; k < end_owner; ++k) {
        ++outgoing.lengths[k][i][b];
        outgoing.rows[k][i].push_back(row);
        if (max_feature) routes.to[k][i].positions.push_back(p);
        if (weighted) outgoing.weights[k][i].push_back((*local_batch.weights)[p]);
      }
    }
  }
  for (int k = 0; k < ranks; ++k)
    for (int64_t b = 0; b < batch_size; ++b)
      if (outgoing.lengths[k][i][b] > 0) routes.to[k][i].bags.push_back(b);
}

}  // namespace

OutgoingIds ShardedEmbeddingBagCollection::route_entries(const KeyedJaggedBatch& local_batch,
                                                         detail::SavedExchange& saved) const {
  const int ranks = comm_.size();
  const std::vector<int64_t> routed = routed_features();
  const auto num_routed = static_cast<int64_t>(routed.size());
  OutgoingIds outgoing(ranks, num_routed, local_batch.batch_size);
  RouteTable& routes = saved.routes;
  routes.to.assign(ranks, std::vector<Route>(num_routed));
  // Each feature writes only its own lists, so the threads share nothing
  // and the routes are the same for any thread count.
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t i = 0; i < num_routed; ++i)
    route_feature(*this, local_batch, saved.bounds, routed[i], i, outgoing, routes);
  lay_out_segments(*this, routed, routes);
  return outgoing;
}

detail::ReceivedIds ShardedEmbeddingBagCollection::exchange_ids(OutgoingIds outgoing,
                                                                const RouteTable& routes) {
  const int ranks = comm_.size();
  Outbox<int32_t> ints = bag_counts(outgoing, routes);
  Outbox<int64_t> rows(ranks);
  append_slots(distinct_rows(outgoing, rows.to), ints);
  outgoing.rows.clear();
  Outbox<float> weights(ranks);
  for (int k = 0; k < ranks; ++k)
    for (const std::vector<float>& feature_weights : outgoing.weights[k])
      weights.to[k].insert(weights.to[k].end(), feature_weights.begin(), feature_weights.end());

  const std::vector<int64_t> routed = routed_features();
  const bool any_weighted =
      std::any_of(routed.begin(), routed.end(), [&](int64_t f) { return feature(f).weighted; });
  detail::ReceivedIds received;
  received.ints = std::move(ints).send(comm_);
  received.rows = std::move(rows).send(comm_);
  received.weights =
      any_weighted ? std::move(weights).send(comm_) : detail::nothing_received<float>(ranks);
  return received;
}

std::vector<std::vector<std::vector<int32_t>>> ShardedEmbeddingBagCollection::distinct_rows(
    const OutgoingIds& outgoing, std::vector<std::vector<int64_t>>& rows_to) {
  const int ranks = comm_.size();
  const int me = comm_.rank();
  const std::vector<int64_t> routed = routed_features();
  std::vector<std::vector<std::vector<int32_t>>> slots(
      ranks, std::vector<std::vector<int32_t>>(routed.size()));
  std::vector<int64_t> tables_done;
  for (int64_t f : routed) {
    const int64_t t = table_of(f);
    if (std::find(tables_done.begin(), tables_done.end(), t) != tables_done.end()) continue;
    tables_done.push_back(t);
    for (int k = 0; k < ranks; ++k) {
      std::vector<int64_t> table_rows;
      for (std::size_t i = 0; i < routed.size(); ++i)
        if (table_of(routed[i]) == t)
          table_rows.insert(table_rows.end(), outgoing.rows[k][i].begin(),
                            outgoing.rows[k][i].end());
      const std::size_t count_at = rows_to[k].size();
      // Ids this rank sends itself cross no wire: sorting them out would
      // only cost time.
      const bool deduplicate = options_.deduplicate_ids && k != me;
      const std::vector<int32_t> table_slots =
          append_distinct_rows(table_rows, layouts_[t], deduplicate, rows_to[k]);
      if (k != me) stats_.ids_sent += rows_to[k][count_at];
      auto next = table_slots.begin();
      for (std::size_t i = 0; i < routed.size(); ++i) {
        if (table_of(routed[i]) != t) continue;
        slots[k][i].assign(next, next + static_cast<std::ptrdiff_t>(outgoing.rows[k][i].size()));
        next += static_cast<std::ptrdiff_t>(outgoing.rows[k][i].size());
      }
    }
  }
  return slots;
}

}  // namespace rowshard
