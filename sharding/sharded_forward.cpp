// ShardedEmbeddingBagCollection::forward and forward_no_grad: route ids to
// their owners, pool on the owners, bring partial results back and reduce
// them.
#include <algorithm>

#include "engine/bag_layout.h"
#include "engine/backend.h"
#include "rowshard/engine/error.h"
#include "engine/row_groups.h"
#include "engine/stopwatch.h"
#include "rowshard/sharding/collectives.h"
#include "sharding/input_agreement.h"
#include "sharding/saved_exchange.h"
#include "sharding/shard_storage.h"
#include "rowshard/sharding/sharded_collection.h"

namespace rowshard {
namespace {

using detail::OwnerBlock;
using detail::Route;
using detail::SavedExchange;

// The messages of one exchange, one array per destination rank, flattened
// for Communicator::alltoallv.
template <typename T>
struct Outbox {
  explicit Outbox(int ranks) : to(ranks) {}
  std::vector<std::vector<T>> to;

  ReceivedArrays<T> send(Communicator& comm) const {
    std::vector<T> flat;
    std::vector<int64_t> counts;
    for (const auto& part : to) {
      flat.insert(flat.end(), part.begin(), part.end());
      counts.push_back(static_cast<int64_t>(part.size()));
    }
    return exchange<T>(comm, flat, counts);
  }
};

}  // namespace

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
  const int ranks = comm_.size();
  const int me = comm_.rank();
  const int64_t batch_size = local_batch.batch_size;

  auto saved = std::make_shared<SavedExchange>();
  CollectivePhase phase(comm_, Phase::input_exchange);
  agree_on_input(comm_, [&] {
    saved->bounds = jagged_bounds(ShardedEmbeddingBagCollection::kName, local_batch, feature_names());
    for (int64_t f = 0; f < num_features(); ++f) {
      const int64_t first = saved->bounds[f * batch_size];
      const int64_t end = saved->bounds[(f + 1) * batch_size];
      check_indices_in_range(
          message(ShardedEmbeddingBagCollection::kName, " feature '", feature(f).name, "' (table '",
                  feature(f).table, "')"),
          local_batch.values.subspan(first, end - first),
          table_config(table_of(f)).table.num_embeddings);
      if (feature(f).weighted && !local_batch.weights)
        throw InvalidArgument(message(ShardedEmbeddingBagCollection::kName, " feature '", feature(f).name,
                                      "': the feature is weighted but the batch "
                                      "has no weights"));
    }
  });

  const std::vector<int64_t> routed = routed_features();
  const auto num_routed = static_cast<int64_t>(routed.size());

  // --- Source side: what goes to which owner. -----------------------------
  // ints to k: [batch size] [lengths: routed x B] [non-padding entry counts
  // of the bags with entries for k] [inverse ids, entry by entry];
  // rows to k: per routed table, [distinct count] [distinct local rows];
  // weights to k: per entry of weighted features.
  Outbox<int32_t> ints(ranks);
  Outbox<int64_t> rows(ranks);
  Outbox<float> weights(ranks);
  saved->routes.assign(ranks, std::vector<Route>(num_routed));
  for (int k = 0; k < ranks; ++k) ints.to[k].push_back(static_cast<int32_t>(batch_size));

  // entry_rows[k][i]: global rows of routed feature i's entries sent to k.
  std::vector<std::vector<std::vector<int64_t>>> entry_rows(
      ranks, std::vector<std::vector<int64_t>>(num_routed));
  std::vector<std::vector<int64_t>> bag_entries(num_routed);
  for (int64_t i = 0; i < num_routed; ++i) {
    const int64_t f = routed[i];
    const ShardLayout& layout = layouts_[table_of(f)];
    const std::optional<int64_t> table_padding_row = padding_row(table_config(table_of(f)).table);
    const bool keep_positions = table_config(table_of(f)).table.mode == PoolingMode::max;
    std::vector<std::vector<int32_t>> lengths(ranks, std::vector<int32_t>(batch_size, 0));
    bag_entries[i].assign(batch_size, 0);
    for (int64_t b = 0; b < batch_size; ++b) {
      for (int64_t p = saved->bounds[f * batch_size + b];
           p < saved->bounds[f * batch_size + b + 1]; ++p) {
        const int64_t row = local_batch.values[p];
        bag_entries[i][b] += !(table_padding_row && row == *table_padding_row);
        const int first_owner = layout.routed_by_row() ? layout.owner_of(row) : 0;
        const int end_owner = layout.routed_by_row() ? first_owner + 1 : ranks;
        for (int k = first_owner; k < end_owner; ++k) {
          ++lengths[k][b];
          entry_rows[k][i].push_back(row);
          if (keep_positions) saved->routes[k][i].positions.push_back(p);
          if (feature(f).weighted) weights.to[k].push_back((*local_batch.weights)[p]);
        }
      }
    }
    for (int k = 0; k < ranks; ++k) {
      ints.to[k].insert(ints.to[k].end(), lengths[k].begin(), lengths[k].end());
      for (int64_t b = 0; b < batch_size; ++b)
        if (lengths[k][b] > 0) saved->routes[k][i].bags.push_back(b);
    }
  }
  for (int64_t i = 0; i < num_routed; ++i)
    for (int k = 0; k < ranks; ++k)
      for (int64_t b : saved->routes[k][i].bags)
        ints.to[k].push_back(static_cast<int32_t>(bag_entries[i][b]));

  // Distinct ids per (table, owner): every entry becomes an index into them.
  std::vector<int64_t> routed_tables;
  for (int64_t f : routed)
    if (std::find(routed_tables.begin(), routed_tables.end(), table_of(f)) ==
        routed_tables.end())
      routed_tables.push_back(table_of(f));
  std::vector<std::vector<std::vector<int32_t>>> inverse(
      ranks, std::vector<std::vector<int32_t>>(num_routed));
  for (int64_t t : routed_tables) {
    const ShardLayout& layout = layouts_[t];
    for (int k = 0; k < ranks; ++k) {
      std::vector<int64_t> all;
      for (int64_t i = 0; i < num_routed; ++i)
        if (table_of(routed[i]) == t)
          all.insert(all.end(), entry_rows[k][i].begin(), entry_rows[k][i].end());
      std::vector<int64_t> distinct;
      std::vector<int32_t> slot(all.size());
      if (options_.deduplicate_ids) {
        const RowGroups groups = group_by_row(all, layout.num_rows());
        distinct = groups.rows;
        for (int64_t g = 0; g < groups.num_groups(); ++g)
          for (int64_t j = groups.group_begin[g]; j < groups.group_begin[g + 1]; ++j)
            slot[groups.order[j]] = static_cast<int32_t>(g);
      } else {
        distinct = all;
        for (std::size_t e = 0; e < all.size(); ++e) slot[e] = static_cast<int32_t>(e);
      }
      std::size_t e = 0;
      for (int64_t i = 0; i < num_routed; ++i) {
        if (table_of(routed[i]) != t) continue;
        inverse[k][i].assign(slot.begin() + e, slot.begin() + e + entry_rows[k][i].size());
        e += entry_rows[k][i].size();
      }
      rows.to[k].push_back(static_cast<int64_t>(distinct.size()));
      for (int64_t row : distinct)
        rows.to[k].push_back(layout.routed_by_row() ? layout.local_row(row) : row);
      if (k != me) stats_.ids_sent += static_cast<int64_t>(distinct.size());
    }
  }
  for (int k = 0; k < ranks; ++k)
    for (int64_t i = 0; i < num_routed; ++i)
      ints.to[k].insert(ints.to[k].end(), inverse[k][i].begin(), inverse[k][i].end());
  entry_rows.clear();
  inverse.clear();

  const bool any_weighted = std::any_of(routed.begin(), routed.end(),
                                        [&](int64_t f) { return feature(f).weighted; });
  const ReceivedArrays<int32_t> got_ints = ints.send(comm_);
  const ReceivedArrays<int64_t> got_rows = rows.send(comm_);
  const ReceivedArrays<float> got_weights =
      any_weighted ? weights.send(comm_) : ReceivedArrays<float>{{}, std::vector<int64_t>(ranks + 1, 0)};
  stats_.input_exchange_seconds = seconds_since(start);

  // --- Owner side: rebuild each source's bags over our shard and pool. ----
  const auto lookup_start = SteadyClock::now();
  saved->blocks.resize(num_routed * ranks);
  std::vector<int64_t> reply_size(ranks, 0);
  for (int s = 0; s < ranks; ++s) {
    const std::span<const int32_t> in = got_ints.from(s);
    const std::span<const int64_t> row_lists = got_rows.from(s);
    const std::span<const float> in_weights = got_weights.from(s);
    const int64_t source_batch = in[0];
    std::size_t at = 1;
    std::vector<std::span<const int32_t>> lengths(num_routed);
    for (int64_t i = 0; i < num_routed; ++i, at += source_batch)
      lengths[i] = in.subspan(at, source_batch);
    std::vector<std::span<const int64_t>> distinct(num_tables());
    for (std::size_t r = 0, row_at = 0; r < routed_tables.size(); ++r) {
      const int64_t n = row_lists[row_at];
      distinct[routed_tables[r]] = row_lists.subspan(row_at + 1, n);
      row_at += 1 + n;
    }
    for (int64_t i = 0; i < num_routed; ++i) {
      OwnerBlock& block = saved->blocks[i * ranks + s];
      block.bounds.push_back(0);
      for (int32_t length : lengths[i])
        if (length > 0) block.bounds.push_back(block.bounds.back() + length);
      const int64_t bags = static_cast<int64_t>(block.bounds.size()) - 1;
      block.entries.assign(in.begin() + at, in.begin() + at + bags);
      at += bags;
    }
    std::size_t weight_at = 0;
    for (int64_t i = 0; i < num_routed; ++i) {
      const int64_t f = routed[i];
      OwnerBlock& block = saved->blocks[i * ranks + s];
      const int64_t entries = block.bounds.back();
      const std::span<const int64_t> rows_of_table = distinct[table_of(f)];
      block.indices.resize(entries);
      for (int64_t e = 0; e < entries; ++e) block.indices[e] = rows_of_table[in[at + e]];
      at += entries;
      if (feature(f).weighted) {
        block.weights.assign(in_weights.begin() + weight_at,
                             in_weights.begin() + weight_at + entries);
        weight_at += entries;
      }
      block.reply_offset = reply_size[s];
      reply_size[s] += (static_cast<int64_t>(block.bounds.size()) - 1) *
                       layouts_[table_of(f)].local_dim(me);
    }
  }

  // max_norm: every block is known before any row is read.
  for (int64_t i = 0; i < num_routed; ++i)
    for (int s = 0; s < ranks; ++s)
      shards_[table_of(routed[i])].table.renormalize(saved->blocks[i * ranks + s].indices);

  Outbox<float> partials(ranks);
  Outbox<int64_t> winners(ranks);
  for (int s = 0; s < ranks; ++s) partials.to[s].resize(reply_size[s]);
  std::vector<PoolingTask> tasks;
  for (int64_t i = 0; i < num_routed; ++i) {
    const int64_t t = table_of(routed[i]);
    const EmbeddingBag& shard = shards_[t].table;
    const int64_t dim = shard.embedding_dim();
    // Owners sum; the source divides a mean by the whole bag's count.
    const PoolingMode mode = shard.mode() == PoolingMode::mean ? PoolingMode::sum : shard.mode();
    for (int s = 0; s < ranks; ++s) {
      OwnerBlock& block = saved->blocks[i * ranks + s];
      const int64_t bags = static_cast<int64_t>(block.bounds.size()) - 1;
      if (mode == PoolingMode::max) block.max_positions.resize(bags * dim);
      tasks.push_back({&shard.weights(),
                       {block.indices, block.bounds, block.weights, mode,
                        shard.padding_idx().value_or(kNoPadding)},
                       partials.to[s].data() + block.reply_offset,
                       mode == PoolingMode::max ? block.max_positions.data() : nullptr,
                       dim});
    }
  }
  backend().pooled_forward_checked_ids(tasks);
  for (int64_t i = 0; i < num_routed; ++i)
    if (table_config(table_of(routed[i])).table.mode == PoolingMode::max)
      for (int s = 0; s < ranks; ++s) {
        const auto& positions = saved->blocks[i * ranks + s].max_positions;
        winners.to[s].insert(winners.to[s].end(), positions.begin(), positions.end());
      }
  stats_.lookup_seconds = seconds_since(lookup_start);

  // --- Back to the sources, reduced in rank order. ------------------------
  const auto output_start = SteadyClock::now();
  phase.switch_to(Phase::output_exchange);
  const bool any_max = std::any_of(routed.begin(), routed.end(), [&](int64_t f) {
    return table_config(table_of(f)).table.mode == PoolingMode::max;
  });
  const ReceivedArrays<float> got_partials = partials.send(comm_);
  const ReceivedArrays<int64_t> got_winners =
      any_max ? winners.send(comm_) : ReceivedArrays<int64_t>{{}, std::vector<int64_t>(ranks + 1, 0)};

  CollectionLookup lookup;
  saved->batch_size = batch_size;
  saved->collection = this;
  lookup.output.shape = {batch_size, total_dim()};
  lookup.output.values.assign(batch_size * total_dim(), 0.0f);
  float* output = lookup.output.values.data();
  saved->winner_rank.resize(num_routed);
  std::vector<int64_t> partial_at(ranks, 0), winner_at(ranks, 0);
  for (int64_t i = 0; i < num_routed; ++i) {
    const int64_t f = routed[i];
    const ShardLayout& layout = layouts_[table_of(f)];
    const PoolingMode mode = table_config(table_of(f)).table.mode;
    const int64_t dim = layout.dim();
    float* out = output + column_offset(f);
    std::vector<int64_t> best_position;
    if (mode == PoolingMode::max && layout.routed_by_row()) {
      saved->winner_rank[i].assign(batch_size * dim, -1);
      best_position.assign(batch_size * dim, -1);
    }
    for (int k = 0; k < ranks; ++k) {
      const Route& route = saved->routes[k][i];
      const int64_t local_dim = layout.local_dim(k);
      const float* partial = got_partials.from(k).data() + partial_at[k];
      const int64_t* won = got_winners.from(k).data() + winner_at[k];
      for (std::size_t j = 0; j < route.bags.size(); ++j) {
        float* row = out + route.bags[j] * total_dim();
        const float* part = partial + j * local_dim;
        if (!layout.routed_by_row()) {
          std::copy(part, part + local_dim, row + layout.first_column(k));
          continue;
        }
        if (mode != PoolingMode::max) {
          for (int64_t d = 0; d < dim; ++d) row[d] += part[d];
          continue;
        }
        // Larger value wins; on a tie, the earlier entry of the bag, as the
        // unsharded kernel (strictly greater, in bag order) decides.
        int32_t* rank_of = &saved->winner_rank[i][route.bags[j] * dim];
        int64_t* best = &best_position[route.bags[j] * dim];
        for (int64_t d = 0; d < dim; ++d) {
          const int64_t local = won[j * dim + d];
          if (local < 0) continue;
          const int64_t position = route.positions[local];
          if (rank_of[d] < 0 || part[d] > row[d] ||
              (part[d] == row[d] && position < best[d])) {
            row[d] = part[d];
            rank_of[d] = k;
            best[d] = position;
          }
        }
      }
      partial_at[k] += static_cast<int64_t>(route.bags.size()) * local_dim;
      if (mode == PoolingMode::max)
        winner_at[k] += static_cast<int64_t>(route.bags.size()) * local_dim;
    }
    if (mode == PoolingMode::mean)
      for (int64_t b = 0; b < batch_size; ++b)
        if (bag_entries[i][b] > 0)
          for (int64_t d = 0; d < dim; ++d)
            out[b * total_dim() + d] /= static_cast<float>(bag_entries[i][b]);
  }

  // Data-parallel features: pooled here, on this rank's replica.
  std::vector<PoolingTask> local_tasks;
  for (int64_t f = 0; f < num_features(); ++f) {
    const int64_t t = table_of(f);
    if (layouts_[t].kind() != ShardingKind::data_parallel) continue;
    const EmbeddingBag& replica = shards_[t].table;
    PoolingTask task{&replica.weights(),
                          {local_batch.values,
                           std::span<const int64_t>(saved->bounds).subspan(f * batch_size,
                                                                           batch_size + 1),
                           feature(f).weighted ? *local_batch.weights
                                                 : std::span<const float>(),
                           replica.mode(), replica.padding_idx().value_or(kNoPadding)},
                          output + column_offset(f), nullptr, total_dim()};
    if (replica.mode() == PoolingMode::max) {
      saved->local_max_positions.resize(lookup.output.values.size());
      task.max_positions = saved->local_max_positions.data() + column_offset(f);
    }
    local_tasks.push_back(task);
  }
  backend().pooled_forward_checked_ids(local_tasks);
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

}  // namespace rowshard
