// The forward's owner side: each source's bags rebuilt over this rank's
// shard from the ids message, pooled, and the partial results sent back.
#include <algorithm>
#include <span>

#include "engine/backend.h"
#include "rowshard/sharding/sharded_collection.h"
#include "sharding/forward_messages.h"
#include "sharding/saved_exchange.h"

namespace rowshard {
namespace {

using detail::OwnerBlock;

// What rebuilding a block needs to know of a routed feature.
struct RoutedShape {
  int64_t table = 0;
  bool weighted = false;
  bool max = false;
  int64_t width = 0;  // this rank's columns of the table
};

// One source's rows message: per routed table, in the order the routed
// features first use them, the count and the distinct local rows.
std::vector<std::span<const int64_t>> distinct_rows_by_table(std::span<const int64_t> message,
                                                             const std::vector<RoutedShape>& routed,
                                                             int64_t num_tables) {
  std::vector<std::span<const int64_t>> distinct(num_tables);
  std::vector<bool> read(num_tables, false);
  std::size_t at = 0;
  for (const RoutedShape& feature : routed) {
    if (read[feature.table]) continue;
    read[feature.table] = true;
    const int64_t count = message[at];
    distinct[feature.table] = message.subspan(at + 1, count);
    at += 1 + count;
  }
  return distinct;
}

// One source's ids message, as the blocks [routed feature] of `blocks`
// ([routed feature * ranks + source]).
void rebuild_source_blocks(int source, int ranks, const std::vector<RoutedShape>& routed,
                           const detail::ReceivedIds& received, int64_t num_tables,
                           std::vector<OwnerBlock>& blocks) {
  const std::span<const int32_t> in = received.ints.from(source);
  const std::span<const float> in_weights = received.weights.from(source);
  const auto num_routed = static_cast<int64_t>(routed.size());
  const std::vector<std::span<const int64_t>> distinct =
      distinct_rows_by_table(received.rows.from(source), routed, num_tables);
  const int64_t source_batch = in[0];
  std::size_t at = 1 + num_routed * source_batch;
  for (int64_t i = 0; i < num_routed; ++i) {
    OwnerBlock& block = blocks[i * ranks + source];
    block.bounds.push_back(0);
    for (int32_t length : in.subspan(1 + i * source_batch, source_batch))
      if (length > 0) block.bounds.push_back(block.bounds.back() + length);
    const int64_t bags = static_cast<int64_t>(block.bounds.size()) - 1;
    block.entries.assign(in.begin() + at, in.begin() + at + bags);
    at += bags;
  }
  detail::MessageLayout reply;
  std::size_t weight_at = 0;
  for (int64_t i = 0; i < num_routed; ++i) {
    OwnerBlock& block = blocks[i * ranks + source];
    const int64_t entries = block.bounds.back();
    const std::span<const int64_t> rows_of_table = distinct[routed[i].table];
    block.indices.resize(entries);
    for (int64_t e = 0; e < entries; ++e) block.indices[e] = rows_of_table[in[at + e]];
    at += entries;
    if (routed[i].weighted) {
      block.weights.assign(in_weights.begin() + weight_at,
                           in_weights.begin() + weight_at + entries);
      weight_at += entries;
    }
    block.segment =
        reply.place(static_cast<int64_t>(block.bounds.size()) - 1, routed[i].width, routed[i].max);
  }
}

}  // namespace

void ShardedEmbeddingBagCollection::rebuild_blocks(const detail::ReceivedIds& received,
                                                   detail::SavedExchange& saved) const {
  const int ranks = comm_.size();
  std::vector<RoutedShape> routed;
  for (int64_t f : routed_features()) {
    const int64_t t = table_of(f);
    routed.push_back({t, feature(f).weighted, table_config(t).table.mode == PoolingMode::max,
                      layouts_[t].local_dim(comm_.rank())});
  }
  saved.blocks.resize(routed.size() * ranks);
  for (int s = 0; s < ranks; ++s)
    rebuild_source_blocks(s, ranks, routed, received, num_tables(), saved.blocks);
}

detail::Replies ShardedEmbeddingBagCollection::pool_owned_rows(detail::SavedExchange& saved) {
  const int ranks = comm_.size();
  const std::vector<int64_t> routed = routed_features();
  const auto num_routed = static_cast<int64_t>(routed.size());
  // max_norm: every block is known before any row is read.
  for (int64_t i = 0; i < num_routed; ++i)
    for (int s = 0; s < ranks; ++s)
      shards_[table_of(routed[i])].table.renormalize(saved.blocks[i * ranks + s].indices);

  detail::Replies replies(ranks);
  std::vector<int64_t> reply_floats(ranks, 0);
  for (int64_t i = 0; i < num_routed; ++i)
    for (int s = 0; s < ranks; ++s) {
      const detail::Segment& segment = saved.blocks[i * ranks + s].segment;
      reply_floats[s] += segment.num_bags * segment.width;
    }
  for (int s = 0; s < ranks; ++s) replies.partials.to[s].resize(reply_floats[s]);
  std::vector<PoolingTask> tasks;
  for (int64_t i = 0; i < num_routed; ++i) {
    const EmbeddingBag& shard = shards_[table_of(routed[i])].table;
    const int64_t dim = shard.embedding_dim();
    // Owners sum; the source divides a mean by the whole bag's count.
    const PoolingMode mode = shard.mode() == PoolingMode::mean ? PoolingMode::sum : shard.mode();
    for (int s = 0; s < ranks; ++s) {
      OwnerBlock& block = saved.blocks[i * ranks + s];
      if (mode == PoolingMode::max) block.max_positions.resize(block.segment.num_bags * dim);
      tasks.push_back({&shard.weights(),
                       {block.indices, block.bounds, block.weights, mode,
                        shard.padding_idx().value_or(kNoPadding)},
                       replies.partials.to[s].data() + block.segment.offset,
                       mode == PoolingMode::max ? block.max_positions.data() : nullptr,
                       dim});
    }
  }
  backend().pooled_forward_checked_ids(tasks);
  for (int64_t i = 0; i < num_routed; ++i)
    for (int s = 0; s < ranks; ++s) {
      const std::vector<int64_t>& positions = saved.blocks[i * ranks + s].max_positions;
      replies.winners.to[s].insert(replies.winners.to[s].end(), positions.begin(), positions.end());
    }
  return replies;
}

detail::ReceivedReplies ShardedEmbeddingBagCollection::exchange_replies(detail::Replies replies) {
  const std::vector<int64_t> routed = routed_features();
  const bool any_max = std::any_of(routed.begin(), routed.end(), [&](int64_t f) {
    return table_config(table_of(f)).table.mode == PoolingMode::max;
  });
  detail::ReceivedReplies received;
  received.partials = std::move(replies.partials).send(comm_);
  received.winners = any_max ? std::move(replies.winners).send(comm_)
                             : detail::nothing_received<int64_t>(comm_.size());
  return received;
}

}  // namespace rowshard
