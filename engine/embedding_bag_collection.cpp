#include "rowshard/engine/embedding_bag_collection.h"

#include <algorithm>

#include "engine/backend.h"
#include "engine/bag_layout.h"
#include "engine/lookup_state.h"
#include "rowshard/engine/error.h"

namespace rowshard {

// What forward() keeps for step(): the batch's checked ids, bounds and
// weights, and the max-pooled features' winning positions.
struct EmbeddingBagCollection::SavedBatch : detail::LookupState {
  std::vector<int64_t, DefaultInitAllocator<int64_t>> values;
  std::vector<int64_t> bounds;  // [features * batch_size + 1]
  std::vector<float> weights;
  std::vector<int64_t> max_positions;  // like the output, for max-pooled features
  int64_t batch_size = 0;
};

EmbeddingBagCollection::EmbeddingBagCollection(std::vector<CollectionTableConfig> tables,
                                               std::vector<FeatureConfig> features)
    : EmbeddingCollection("EmbeddingBagCollection", std::move(tables), std::move(features)) {
  for (int64_t t = 0; t < num_tables(); ++t) {
    const CollectionTableConfig& config = table_config(t);
    tables_.emplace_back(config.table);
    optimizers_.push_back(make_optimizer(config.optimizer, config.table.num_embeddings,
                                         config.table.embedding_dim, tables_.back().placement()));
    layouts_.emplace_back(ShardingKind::row_wise, RowPlacement::contiguous, 0,
                          config.table.num_embeddings, config.table.embedding_dim, 1);
  }
}

std::span<const int64_t> EmbeddingBagCollection::feature_ids(const KeyedJaggedBatch& batch,
                                                             std::span<const int64_t> bounds,
                                                             int64_t f) const {
  const int64_t first = bounds[f * batch.batch_size];
  return batch.values.subspan(first, bounds[(f + 1) * batch.batch_size] - first);
}

bool EmbeddingBagCollection::any_max_norm() const {
  return std::any_of(tables_.begin(), tables_.end(),
                     [](const EmbeddingBag& t) { return t.options().max_norm.has_value(); });
}

void EmbeddingBagCollection::renormalize(const KeyedJaggedBatch& batch,
                                         std::span<const int64_t> bounds) {
  for (int64_t f = 0; f < num_features(); ++f)
    tables_[table_of(f)].renormalize(feature_ids(batch, bounds, f));
}

void EmbeddingBagCollection::pool(const KeyedJaggedBatch& batch, std::span<const int64_t> bounds,
                                  int64_t* id_copy, Tensor& output,
                                  std::vector<int64_t>& max_positions) {
  // max_norm writes rows, so then every id is checked (and copied) before
  // any is read. Otherwise only the output is written, and the kernels
  // check (and copy) each run's ids as they go.
  const bool check_first = any_max_norm();
  if (check_first) {
    for (int64_t f = 0; f < num_features(); ++f) {
      const std::span<const int64_t> ids = feature_ids(batch, bounds, f);
      const int64_t rows = tables_[table_of(f)].num_embeddings();
      if (id_copy != nullptr)
        copy_indices_in_range(feature_owner(f), ids, rows, id_copy + bounds[f * batch.batch_size]);
      else
        check_indices_in_range(feature_owner(f), ids, rows);
    }
    renormalize(batch, bounds);
  }

  const int64_t batch_size = batch.batch_size;
  output.shape = {batch_size, total_dim()};
  output.values.resize(batch_size * total_dim());
  const bool any_max = std::any_of(tables_.begin(), tables_.end(),
                                   [](const auto& t) { return t.mode() == PoolingMode::max; });
  if (any_max) max_positions.resize(output.values.size());

  std::vector<PoolingTask> tasks;
  for (int64_t f = 0; f < num_features(); ++f) {
    const EmbeddingBag& table = tables_[table_of(f)];
    PoolingTask task;
    task.weights = &table.weights();
    task.batch = {batch.values, bounds.subspan(f * batch_size, batch_size + 1),
                  feature(f).weighted ? *batch.weights : std::span<const float>(), table.mode(),
                  table.padding_idx().value_or(kNoPadding)};
    task.output = output.values.data() + column_offset(f);
    if (table.mode() == PoolingMode::max)
      task.max_positions = max_positions.data() + column_offset(f);
    task.output_stride = total_dim();
    if (!check_first) {
      task.unchecked_ids = true;
      task.id_copy = id_copy;
    }
    tasks.push_back(task);
  }
  if (backend().pooled_forward(tasks)) return;
  // Some run of bags met an id out of range: find the first offender of
  // the first feature that has one, for the error.
  for (int64_t f = 0; f < num_features(); ++f)
    check_indices_in_range(feature_owner(f), feature_ids(batch, bounds, f),
                           tables_[table_of(f)].num_embeddings());
  ROWSHARD_ASSERT(false);  // the kernels found an id out of range
}

CollectionLookup EmbeddingBagCollection::forward(const KeyedJaggedBatch& batch) {
  auto saved = std::make_shared<SavedBatch>();
  saved->collection = this;
  saved->bounds = checked_bounds(batch);
  saved->batch_size = batch.batch_size;
  // Every value belongs to one feature (jagged_bounds checked), so the
  // checked copies fill saved->values.
  saved->values.resize(batch.values.size());
  if (batch.weights) saved->weights.assign(batch.weights->begin(), batch.weights->end());
  CollectionLookup lookup;
  pool(batch, saved->bounds, saved->values.data(), lookup.output, saved->max_positions);
  lookup.saved = std::move(saved);
  return lookup;
}

Tensor EmbeddingBagCollection::forward_no_grad(const KeyedJaggedBatch& batch) {
  const std::vector<int64_t> bounds = checked_bounds(batch);
  Tensor output;
  std::vector<int64_t> max_positions;  // only the kernels read them
  pool(batch, bounds, /*id_copy=*/nullptr, output, max_positions);
  return output;
}

std::vector<GradientSource> EmbeddingBagCollection::gradient_sources(
    const SavedBatch& lookup, std::span<const float> grad_output, int64_t table) const {
  check_length(kind(), "grad_output", grad_output.size(), lookup.batch_size * total_dim());
  std::vector<GradientSource> sources;
  const EmbeddingBag& t = tables_[table];
  for (int64_t f = 0; f < num_features(); ++f) {
    if (table_of(f) != table) continue;
    GradientSource source;
    source.batch = {
        lookup.values,
        std::span(lookup.bounds).subspan(f * lookup.batch_size, lookup.batch_size + 1),
        feature(f).weighted ? std::span<const float>(lookup.weights) : std::span<const float>(),
        t.mode(), t.padding_idx().value_or(kNoPadding)};
    source.grad_output = grad_output.data() + column_offset(f);
    if (t.mode() == PoolingMode::max)
      source.max_positions = lookup.max_positions.data() + column_offset(f);
    source.stride = total_dim();
    sources.push_back(source);
  }
  return sources;
}

void EmbeddingBagCollection::step(const CollectionLookup& lookup,
                                  std::span<const float> grad_output) {
  const auto& saved = static_cast<const SavedBatch&>(state_of(lookup));
  check_length(kind(), "grad_output", grad_output.size(), saved.batch_size * total_dim());
  for (int64_t t = 0; t < num_tables(); ++t) {
    if (tables_[t].frozen()) continue;
    const auto sources = gradient_sources(saved, grad_output, t);
    if (!sources.empty()) tables_[t].step(sources, *optimizers_[t]);
  }
}

SparseGradient EmbeddingBagCollection::sparse_gradient(const CollectionLookup& lookup,
                                                       std::span<const float> grad_output,
                                                       int64_t t) {
  const auto& saved = static_cast<const SavedBatch&>(state_of(lookup));
  return tables_[t].sparse_gradient(gradient_sources(saved, grad_output, t));
}

}  // namespace rowshard
