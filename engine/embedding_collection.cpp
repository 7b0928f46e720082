#include "rowshard/engine/embedding_collection.h"

#include <algorithm>
#include <set>

#include "engine/backend.h"
#include "engine/lookup_state.h"
#include "rowshard/engine/element_types.h"
#include "rowshard/engine/error.h"

namespace rowshard {

EmbeddingCollection::~EmbeddingCollection() = default;

EmbeddingCollection::EmbeddingCollection(std::string_view kind,
                                         std::vector<CollectionTableConfig> tables,
                                         std::vector<FeatureConfig> features)
    : kind_(kind), tables_(std::move(tables)), features_(std::move(features)) {
  const Device device = tables_.empty() ? Device::cpu : tables_.front().table.device;
  backend_ = &backend_for(device, kind_);
  std::set<std::string> table_names;
  for (const CollectionTableConfig& config : tables_) {
    if (config.table.device != device)
      throw InvalidArgument(message(kind_, ": table '", config.table.name, "' is on ",
                                    device_name(config.table.device), " but table '",
                                    tables_.front().table.name, "' is on ", device_name(device),
                                    "; a collection's tables share one device"));
    if (!table_names.insert(config.table.name).second)
      throw InvalidArgument(message(kind_, ": two tables are named '", config.table.name, "'"));
    if (config.table.include_last_offset)
      throw InvalidArgument(message(
          kind_, ": table '", config.table.name,
          "' sets include_last_offset, which a collection does not read: its batches' "
          "offsets always end with the end of the values (features * batch_size + 1 entries)"));
  }

  std::set<std::string> feature_names;
  column_offsets_.push_back(0);
  for (const FeatureConfig& feature : features_) {
    if (!feature_names.insert(feature.name).second)
      throw InvalidArgument(message(kind_, ": two features are named '", feature.name, "'"));
    const auto table = std::find_if(tables_.begin(), tables_.end(), [&](const auto& config) {
      return config.table.name == feature.table;
    });
    if (table == tables_.end())
      throw InvalidArgument(message(kind_, ": feature '", feature.name, "' reads table '",
                                    feature.table, "', which is not in the collection"));
    const PoolingMode mode = table->table.mode;
    if (feature.weighted && mode != PoolingMode::sum)
      throw InvalidArgument(message(kind_, ": feature '", feature.name, "' is weighted but table '",
                                    feature.table, "' pools by ", pooling_mode_name(mode),
                                    "; per-sample weights need sum"));
    table_of_feature_.push_back(table - tables_.begin());
    column_offsets_.push_back(column_offsets_.back() + table->table.embedding_dim);
    feature_names_.push_back(feature.name);
  }
}

FeatureView EmbeddingCollection::feature_view(const Tensor& output, int64_t f) const {
  return {output.values.data() + column_offsets_[f], output.shape.at(0),
          tables_[table_of(f)].table.embedding_dim, total_dim()};
}

FeatureView EmbeddingCollection::feature_view(const Tensor& output,
                                              std::string_view feature) const {
  return feature_view(output, feature_position(kind_, feature_names_, feature));
}

std::string EmbeddingCollection::feature_owner(int64_t f) const {
  return message(kind_, " feature '", features_[f].name, "' (table '", features_[f].table, "')");
}

std::vector<int64_t> EmbeddingCollection::checked_bounds(const KeyedJaggedBatch& batch) const {
  std::vector<int64_t> bounds = jagged_bounds(kind_, batch, feature_names_);
  for (int64_t f = 0; f < num_features(); ++f) {
    if (features_[f].weighted && !batch.weights)
      throw InvalidArgument(
          message(feature_owner(f), ": the feature is weighted but the batch has no weights"));
  }
  return bounds;
}

const detail::LookupState& EmbeddingCollection::state_of(const CollectionLookup& lookup) const {
  if (!lookup.saved || lookup.saved->collection != this)
    throw InvalidArgument(message(kind_,
                                  ": this lookup was not made by this collection's "
                                  "forward(); step() needs the collection's own lookup"));
  return *lookup.saved;
}

void EmbeddingCollection::load_local_table(int64_t t, const RowReader& read_row, bool freeze) {
  const ShardLayout& table_layout = layout(t);
  const int me = rank();
  EmbeddingBag& local = mutable_local_table(t);
  const int64_t rows = local.num_embeddings();
  const int64_t dim = local.embedding_dim();
  RowStorage storage = RowStorage::allocate(rows, dim, local.weights().dtype(), local.placement());
  std::vector<float> values(dim);
  visit_element_type(storage.dtype(), [&]<typename Element>(Element) {
    for (int64_t row = 0; row < rows; ++row) {
      read_row(table_layout.global_row(me, row), table_layout.first_column(me), values);
      Element* out = storage.mutable_row<Element>(row);
      for (int64_t d = 0; d < dim; ++d) out[d] = from_float<Element>(values[d]);
    }
  });
  EmbeddingBagOptions options;
  static_cast<TableOptions&>(options) = local.options();
  options.mode = local.mode();
  local = EmbeddingBag::from_pretrained(std::move(storage), options, freeze);
}

}  // namespace rowshard
