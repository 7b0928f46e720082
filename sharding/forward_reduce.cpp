// The forward's last exchange, on the source side: each owner's partial
// results for the bags it pooled come back along the routes and are reduced
// into the output in rank order.
#include <algorithm>

#include "rowshard/sharding/sharded_collection.h"
#include "sharding/forward_messages.h"
#include "sharding/saved_exchange.h"

namespace rowshard {
namespace {

using detail::Route;

// Column-wise: the owner's columns of each bag, copied into place.
void copy_columns(const Route& route, const float* partial, int64_t first_column, float* out,
                  int64_t stride) {
  const int64_t width = route.segment.width;
  for (std::size_t j = 0; j < route.bags.size(); ++j)
    std::copy(partial + j * width, partial + (j + 1) * width,
              out + route.bags[j] * stride + first_column);
}

// Row-wise sum and mean: each bag's partial sums added in rank order.
void add_partials(const Route& route, const float* partial, float* out, int64_t stride) {
  const int64_t dim = route.segment.width;
  for (std::size_t j = 0; j < route.bags.size(); ++j) {
    float* row = out + route.bags[j] * stride;
    const float* part = partial + j * dim;
    for (int64_t d = 0; d < dim; ++d) row[d] += part[d];
  }
}

// Row-wise max: the larger value wins; on a tie, the earlier entry of the
// bag, as the unsharded kernel (strictly greater, in bag order) decides.
// `winner_rank` and `best_position` are [bag, dim], -1 before any winner.
void merge_max(const Route& route, int owner, const float* partial, const int64_t* won, float* out,
               int64_t stride, int32_t* winner_rank, int64_t* best_position) {
  const int64_t dim = route.segment.width;
  for (std::size_t j = 0; j < route.bags.size(); ++j) {
    float* row = out + route.bags[j] * stride;
    const float* part = partial + j * dim;
    int32_t* rank_of = winner_rank + route.bags[j] * dim;
    int64_t* best = best_position + route.bags[j] * dim;
    for (int64_t d = 0; d < dim; ++d) {
      const int64_t local = won[j * dim + d];
      if (local < 0) continue;
      const int64_t position = route.positions[local];
      if (rank_of[d] < 0 || part[d] > row[d] || (part[d] == row[d] && position < best[d])) {
        row[d] = part[d];
        rank_of[d] = owner;
        best[d] = position;
      }
    }
  }
}

// Mean: the owners summed; each bag divides by all its non-padding entries.
void divide_by_entries(const std::vector<int64_t>& bag_entries, int64_t dim, float* out,
                       int64_t stride) {
  for (std::size_t b = 0; b < bag_entries.size(); ++b)
    if (bag_entries[b] > 0)
      for (int64_t d = 0; d < dim; ++d) out[b * stride + d] /= static_cast<float>(bag_entries[b]);
}

}  // namespace

void ShardedEmbeddingBagCollection::reduce_replies(
    const detail::ReceivedReplies& replies, const std::vector<std::vector<int64_t>>& bag_entries,
    detail::SavedExchange& saved, float* output) const {
  const std::vector<int64_t> routed = routed_features();
  saved.winner_rank.resize(routed.size());
  // Each feature writes its own columns of the output.
#pragma omp parallel for schedule(dynamic, 1)
  for (std::size_t i = 0; i < routed.size(); ++i) {
    const int64_t f = routed[i];
    const ShardLayout& layout = layouts_[table_of(f)];
    const PoolingMode mode = table_config(table_of(f)).table.mode;
    const bool merge_winners = mode == PoolingMode::max && layout.routed_by_row();
    const auto bags = static_cast<int64_t>(bag_entries[i].size());
    float* out = output + column_offset(f);
    std::vector<int64_t> best_position;
    if (merge_winners) {
      saved.winner_rank[i].assign(bags * layout.dim(), -1);
      best_position.assign(bags * layout.dim(), -1);
    }
    for (int k = 0; k < comm_.size(); ++k) {
      const Route& route = saved.routes.to[k][i];
      const float* partial = replies.partials.from(k).data() + route.segment.offset;
      if (!layout.routed_by_row())
        copy_columns(route, partial, layout.first_column(k), out, total_dim());
      else if (!merge_winners)
        add_partials(route, partial, out, total_dim());
      else
        merge_max(route, k, partial, replies.winners.from(k).data() + route.segment.winner_offset,
                  out, total_dim(), saved.winner_rank[i].data(), best_position.data());
    }
    if (mode == PoolingMode::mean)
      divide_by_entries(bag_entries[i], layout.dim(), out, total_dim());
  }
}

}  // namespace rowshard
