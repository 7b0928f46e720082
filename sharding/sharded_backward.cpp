// ShardedEmbeddingBagCollection::step: each bag's gradient goes back along
// the route its ids took, and each owner applies the fused optimizer to the
// rows it holds.

#include <algorithm>
#include <numeric>

#include "engine/backend.h"
#include "engine/bag_layout.h"
#include "engine/stopwatch.h"
#include "rowshard/sharding/collectives.h"
#include "rowshard/sharding/sharded_collection.h"
#include "sharding/column_slice_adagrad.h"
#include "sharding/input_agreement.h"
#include "sharding/saved_exchange.h"

namespace rowshard {
namespace {

using detail::OwnerBlock;
using detail::Route;
using detail::SavedExchange;

// Each shard's share of every touched row's sum of squares, added up over
// the shards, then the update with the whole row's total.
void step_column_shard(Communicator& comm, EmbeddingBag& shard, RowWiseAdagrad& optimizer,
                       std::span<const GradientSource> sources, int64_t full_dim) {
  const SparseGradient gradient = shard.sparse_gradient(sources);
  const auto touched = static_cast<int64_t>(gradient.rows.size());
  const int64_t dim = shard.embedding_dim();
  std::vector<float> weights(touched * dim);
  shard.backend().gather_rows(shard.weights(), gradient.rows, weights);
  std::vector<float> square_sums(touched);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < touched; ++i)
    square_sums[i] = optimizer.slice_square_sum(std::span(weights).subspan(i * dim, dim),
                                                std::span(gradient.values).subspan(i * dim, dim));
  allreduce_sum<float>(comm, square_sums);
  ColumnSliceRowWiseAdagrad whole_row(optimizer, gradient.rows, square_sums, full_dim);
  shard.apply_gradients(gradient.rows, gradient.values, whole_row);
}

}  // namespace

std::vector<int64_t> ShardedEmbeddingBagCollection::routed_features() const {
  std::vector<int64_t> routed;
  for (int64_t f = 0; f < num_features(); ++f)
    if (layouts_[table_of(f)].kind() != ShardingKind::data_parallel) routed.push_back(f);
  return routed;
}

ReceivedArrays<float> ShardedEmbeddingBagCollection::exchange_gradients(
    const CollectionLookup& lookup, std::span<const float> grad_output) {
  agree_on_input(comm_, [&] {
    check_length(ShardedEmbeddingBagCollection::kName, "grad_output", grad_output.size(),
                 static_cast<int64_t>(lookup.output.values.size()));
  });
  const SavedExchange& saved = saved_of(lookup);
  const std::vector<int64_t> routed = routed_features();
  // Each owner gets the gradient of the bags it pooled for us, where their
  // partial results came from; a max bag's columns only where that owner's
  // row won.
  const std::vector<int64_t>& counts = saved.routes.floats_to;
  std::vector<int64_t> message_start(comm_.size() + 1, 0);
  std::partial_sum(counts.begin(), counts.end(), message_start.begin() + 1);
  std::vector<float> flat(message_start.back());
  // Each feature writes its own segments of the messages.
#pragma omp parallel for schedule(dynamic, 1)
  for (std::size_t i = 0; i < routed.size(); ++i) {
    const int64_t f = routed[i];
    const ShardLayout& layout = layouts_[table_of(f)];
    const bool masked = !saved.winner_rank[i].empty();
    for (int k = 0; k < comm_.size(); ++k) {
      const Route& route = saved.routes.to[k][i];
      const int64_t width = route.segment.width;
      for (std::size_t j = 0; j < route.bags.size(); ++j) {
        const int64_t b = route.bags[j];
        const float* g =
            grad_output.data() + b * total_dim() + column_offset(f) + layout.first_column(k);
        float* row = flat.data() + message_start[k] + route.segment.offset + j * width;
        if (!masked) {
          std::copy_n(g, width, row);
          continue;
        }
        for (int64_t d = 0; d < width; ++d)
          row[d] = saved.winner_rank[i][b * layout.dim() + d] != k ? 0.0f : g[d];
      }
    }
  }
  return exchange<float>(comm_, std::move(flat), counts);
}

std::vector<GradientSource> ShardedEmbeddingBagCollection::owner_sources(
    int64_t t, const CollectionLookup& lookup, const ReceivedArrays<float>& gradients) const {
  const SavedExchange& saved = saved_of(lookup);
  const std::vector<int64_t> routed = routed_features();
  const EmbeddingBag& shard = shards_[t].table;
  const int ranks = comm_.size();
  std::vector<GradientSource> sources;
  for (std::size_t i = 0; i < routed.size(); ++i) {
    if (table_of(routed[i]) != t) continue;
    for (int s = 0; s < ranks; ++s) {
      const OwnerBlock& block = saved.blocks[i * ranks + s];
      GradientSource source;
      source.batch = {block.indices, block.bounds, block.weights, shard.mode(),
                      shard.padding_idx().value_or(kNoPadding)};
      source.grad_output = gradients.from(s).data() + block.segment.offset;
      source.max_positions = block.max_positions.empty() ? nullptr : block.max_positions.data();
      source.stride = shard.embedding_dim();
      source.entries_per_bag = block.entries.data();
      sources.push_back(source);
    }
  }
  return sources;
}

void ShardedEmbeddingBagCollection::step(const CollectionLookup& lookup,
                                         std::span<const float> grad_output) {
  const auto start = SteadyClock::now();
  const int64_t sent_before = comm_.bytes_sent();
  const int64_t received_before = comm_.bytes_received();
  CollectivePhase phase(comm_, Phase::gradient_exchange);
  const ReceivedArrays<float> gradients = exchange_gradients(lookup, grad_output);
  for (int64_t t = 0; t < num_tables(); ++t) {
    Shard& shard = shards_[t];
    const ShardLayout& layout = layouts_[t];
    // Every rank loaded the table alike, so every rank skips it alike.
    if (shard.table.frozen()) continue;
    if (layout.kind() == ShardingKind::data_parallel) {
      const SparseGradient gradient = data_parallel_gradient(t, lookup, grad_output);
      shard.table.apply_gradients(gradient.rows, gradient.values, *shard.optimizer);
      continue;
    }
    const std::vector<GradientSource> sources = owner_sources(t, lookup, gradients);
    auto* rowwise = dynamic_cast<RowWiseAdagrad*>(shard.optimizer.get());
    if (layout.kind() == ShardingKind::column_wise && rowwise != nullptr)
      step_column_shard(comm_, shard.table, *rowwise, sources, layout.dim());
    else if (!sources.empty())
      shard.table.step(sources, *shard.optimizer);
  }
  stats_.backward_seconds = seconds_since(start);
  stats_.bytes_sent += comm_.bytes_sent() - sent_before;
  stats_.bytes_received += comm_.bytes_received() - received_before;
}

SparseGradient ShardedEmbeddingBagCollection::sparse_gradient(const CollectionLookup& lookup,
                                                              std::span<const float> grad_output,
                                                              int64_t t) {
  CollectivePhase phase(comm_, Phase::gradient_exchange);
  const ReceivedArrays<float> gradients = exchange_gradients(lookup, grad_output);
  if (layouts_[t].kind() == ShardingKind::data_parallel)
    return data_parallel_gradient(t, lookup, grad_output);
  return shards_[t].table.sparse_gradient(owner_sources(t, lookup, gradients));
}

SparseGradient ShardedEmbeddingBagCollection::data_parallel_gradient(
    int64_t t, const CollectionLookup& lookup, std::span<const float> grad_output) {
  const SavedExchange& saved = saved_of(lookup);
  const EmbeddingBag& replica = shards_[t].table;
  const int64_t rows = replica.num_embeddings();
  const int64_t dim = replica.embedding_dim();
  const int64_t batch_size = saved_of(lookup).batch_size;
  const int64_t padding_row = replica.padding_idx().value_or(kNoPadding);

  std::vector<GradientSource> sources;
  std::vector<int64_t> occurrences(rows, 0);
  for (int64_t f = 0; f < num_features(); ++f) {
    if (table_of(f) != t) continue;
    GradientSource source;
    source.batch = {
        saved.values,
        std::span<const int64_t>(saved.bounds).subspan(f * batch_size, batch_size + 1),
        feature(f).weighted ? std::span<const float>(saved.weights) : std::span<const float>(),
        replica.mode(), padding_row};
    source.grad_output = grad_output.data() + column_offset(f);
    source.max_positions = saved.local_max_positions.empty()
                               ? nullptr
                               : saved.local_max_positions.data() + column_offset(f);
    source.stride = total_dim();
    sources.push_back(source);
    for (int64_t p = saved.bounds[f * batch_size]; p < saved.bounds[(f + 1) * batch_size]; ++p)
      if (saved.values[p] != padding_row) ++occurrences[saved.values[p]];
  }
  // Every replica gets the same all-reduced gradient, on the rows the
  // global batch touched (occurrences > 0 on some rank).
  const SparseGradient local = replica.sparse_gradient(sources);
  std::vector<float> dense(rows * dim, 0.0f);
  for (std::size_t i = 0; i < local.rows.size(); ++i)
    std::copy_n(&local.values[i * dim], dim, &dense[local.rows[i] * dim]);
  allreduce_sum<float>(comm_, dense);
  allreduce_sum<int64_t>(comm_, occurrences);
  SparseGradient global;
  global.dim = dim;
  for (int64_t r = 0; r < rows; ++r) {
    if (occurrences[r] == 0) continue;
    global.rows.push_back(r);
    global.values.insert(global.values.end(), &dense[r * dim], &dense[r * dim] + dim);
  }
  return global;
}

}  // namespace rowshard
