#include "rowshard/engine/embedding_bag_collection.h"

#include <algorithm>
#include <set>

#include "engine/bag_layout.h"
#include "engine/cpu/pooling.h"
#include "rowshard/engine/error.h"

namespace rowshard {
namespace {

constexpr std::string_view kOwner = "EmbeddingBagCollection";

}  // namespace

EmbeddingBagCollection::EmbeddingBagCollection(
    std::vector<CollectionTableConfig> tables,
    std::vector<FeatureConfig> features)
    : configs_(tables), features_(std::move(features)) {
  std::set<std::string> table_names;
  for (const CollectionTableConfig& config : tables) {
    if (!table_names.insert(config.table.name).second)
      throw InvalidArgument(message(kOwner, ": two tables are named '",
                                    config.table.name, "'"));
    if (config.table.include_last_offset)
      throw InvalidArgument(message(
          kOwner, ": table '", config.table.name,
          "' sets include_last_offset, which a collection does not read: its batches' "
          "offsets always end with the end of the values (features * batch_size + 1 entries)"));
    tables_.emplace_back(config.table);
    optimizers_.push_back(make_optimizer(config.optimizer,
                                         config.table.num_embeddings,
                                         config.table.embedding_dim));
  }

  std::set<std::string> feature_names;
  column_offsets_.push_back(0);
  for (const FeatureConfig& feature : features_) {
    if (!feature_names.insert(feature.name).second)
      throw InvalidArgument(message(kOwner, ": two features are named '",
                                    feature.name, "'"));
    const auto table = std::find_if(
        tables_.begin(), tables_.end(),
        [&](const EmbeddingBag& t) { return t.name() == feature.table; });
    if (table == tables_.end())
      throw InvalidArgument(message(kOwner, ": feature '", feature.name,
                                    "' reads table '", feature.table,
                                    "', which is not in the collection"));
    if (feature.weighted && table->mode() != PoolingMode::sum)
      throw InvalidArgument(message(
          kOwner, ": feature '", feature.name, "' is weighted but table '",
          feature.table, "' pools by ", pooling_mode_name(table->mode()),
          "; per-sample weights need sum"));
    table_of_feature_.push_back(table - tables_.begin());
    column_offsets_.push_back(column_offsets_.back() + table->embedding_dim());
    feature_names_.push_back(feature.name);
  }
}

std::string EmbeddingBagCollection::feature_owner(int64_t f) const {
  return message(kOwner, " feature '", features_[f].name, "' (table '",
                 features_[f].table, "')");
}

std::span<const int64_t> EmbeddingBagCollection::feature_ids(
    const KeyedJaggedBatch& batch, std::span<const int64_t> bounds,
    int64_t f) const {
  const int64_t first = bounds[f * batch.batch_size];
  return batch.values.subspan(first, bounds[(f + 1) * batch.batch_size] - first);
}

std::vector<int64_t> EmbeddingBagCollection::checked_bounds(
    const KeyedJaggedBatch& batch) const {
  std::vector<int64_t> bounds = jagged_bounds(kOwner, batch, feature_names_);
  for (int64_t f = 0; f < num_features(); ++f) {
    if (features_[f].weighted && !batch.weights)
      throw InvalidArgument(message(feature_owner(f),
                                    ": the feature is weighted but the batch "
                                    "has no weights"));
  }
  return bounds;
}

bool EmbeddingBagCollection::any_max_norm() const {
  return std::any_of(tables_.begin(), tables_.end(), [](const EmbeddingBag& t) {
    return t.options().max_norm.has_value();
  });
}

void EmbeddingBagCollection::renormalize(const KeyedJaggedBatch& batch,
                                         std::span<const int64_t> bounds) {
  for (int64_t f = 0; f < num_features(); ++f)
    tables_[table_of(f)].renormalize(feature_ids(batch, bounds, f));
}

void EmbeddingBagCollection::pool(const KeyedJaggedBatch& batch,
                                  std::span<const int64_t> bounds, int64_t* id_copy,
                                  Tensor& output, std::vector<int64_t>& max_positions) {
  // max_norm writes rows, so then every id is checked (and copied) before
  // any is read. Otherwise only the output is written, and the kernels
  // check (and copy) each run's ids as they go.
  const bool check_first = any_max_norm();
  if (check_first) {
    for (int64_t f = 0; f < num_features(); ++f) {
      const std::span<const int64_t> ids = feature_ids(batch, bounds, f);
      const int64_t rows = tables_[table_of(f)].num_embeddings();
      if (id_copy != nullptr)
        copy_indices_in_range(feature_owner(f), ids, rows,
                              id_copy + bounds[f * batch.batch_size]);
      else
        check_indices_in_range(feature_owner(f), ids, rows);
    }
    renormalize(batch, bounds);
  }

  const int64_t batch_size = batch.batch_size;
  output.shape = {batch_size, total_dim()};
  output.values.resize(batch_size * total_dim());
  const bool any_max = std::any_of(tables_.begin(), tables_.end(), [](const auto& t) {
    return t.mode() == PoolingMode::max;
  });
  if (any_max) max_positions.resize(output.values.size());

  std::vector<cpu::PoolingTask> tasks;
  for (int64_t f = 0; f < num_features(); ++f) {
    const EmbeddingBag& table = tables_[table_of(f)];
    cpu::PoolingTask task;
    task.weights = &table.weights();
    task.batch = {batch.values, bounds.subspan(f * batch_size, batch_size + 1),
                  features_[f].weighted ? *batch.weights : std::span<const float>(),
                  table.mode(), table.padding_idx().value_or(kNoPadding)};
    task.output = output.values.data() + column_offsets_[f];
    if (table.mode() == PoolingMode::max)
      task.max_positions = max_positions.data() + column_offsets_[f];
    task.output_stride = total_dim();
    if (!check_first) {
      task.unchecked_ids = true;
      task.id_copy = id_copy;
    }
    tasks.push_back(task);
  }
  if (cpu::checked_pooled_forward(tasks)) return;
  // Some run of bags met an id out of range: find the first offender of
  // the first feature that has one, for the error.
  for (int64_t f = 0; f < num_features(); ++f)
    check_indices_in_range(feature_owner(f), feature_ids(batch, bounds, f),
                           tables_[table_of(f)].num_embeddings());
  ROWSHARD_ASSERT(false);  // the kernels found an id out of range
}

CollectionLookup EmbeddingBagCollection::forward(const KeyedJaggedBatch& batch) {
  CollectionLookup lookup;
  lookup.bounds = checked_bounds(batch);
  lookup.batch_size = batch.batch_size;
  // Every value belongs to one feature (jagged_bounds checked), so the
  // checked copies fill lookup.values.
  lookup.values.resize(batch.values.size());
  if (batch.weights) lookup.weights.assign(batch.weights->begin(), batch.weights->end());
  pool(batch, lookup.bounds, lookup.values.data(), lookup.output, lookup.max_positions);
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
    const CollectionLookup& lookup, std::span<const float> grad_output,
    int64_t table) const {
  check_length(kOwner, "grad_output", grad_output.size(),
               static_cast<int64_t>(lookup.output.values.size()));
  std::vector<GradientSource> sources;
  const EmbeddingBag& t = tables_[table];
  for (int64_t f = 0; f < num_features(); ++f) {
    if (table_of(f) != table) continue;
    GradientSource source;
    source.batch = {lookup.values,
                    std::span(lookup.bounds)
                        .subspan(f * lookup.batch_size, lookup.batch_size + 1),
                    features_[f].weighted ? std::span<const float>(lookup.weights)
                                          : std::span<const float>(),
                    t.mode(), t.padding_idx().value_or(kNoPadding)};
    source.grad_output = grad_output.data() + column_offsets_[f];
    if (t.mode() == PoolingMode::max)
      source.max_positions = lookup.max_positions.data() + column_offsets_[f];
    source.stride = total_dim();
    sources.push_back(source);
  }
  return sources;
}

void EmbeddingBagCollection::step(const CollectionLookup& lookup,
                                  std::span<const float> grad_output) {
  check_length(kOwner, "grad_output", grad_output.size(),
               static_cast<int64_t>(lookup.output.values.size()));
  for (int64_t t = 0; t < num_tables(); ++t) {
    if (tables_[t].frozen()) continue;
    const auto sources = gradient_sources(lookup, grad_output, t);
    if (!sources.empty()) tables_[t].step(sources, *optimizers_[t]);
  }
}

SparseGradient EmbeddingBagCollection::sparse_gradient(
    const CollectionLookup& lookup, std::span<const float> grad_output,
    int64_t table) const {
  return tables_[table].sparse_gradient(
      gradient_sources(lookup, grad_output, table));
}

FeatureView EmbeddingBagCollection::feature_view(const Tensor& output,
                                                 int64_t f) const {
  return {output.values.data() + column_offsets_[f], output.shape.at(0),
          tables_[table_of(f)].embedding_dim(), total_dim()};
}

FeatureView EmbeddingBagCollection::feature_view(const Tensor& output,
                                                 std::string_view feature) const {
  return feature_view(output, feature_position(kOwner, feature_names_, feature));
}

}  // namespace rowshard
