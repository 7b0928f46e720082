#include "rowshard/sharding/sharded_collection.h"

#include <algorithm>
#include <set>

#include "engine/bag_layout.h"
#include "rowshard/engine/element_types.h"
#include "rowshard/engine/error.h"
#include "sharding/saved_exchange.h"
#include "sharding/shard_storage.h"

namespace rowshard {

namespace {

void check_sharding_supports(const CollectionTableConfig& config,
                             const TableSharding& sharding, int world_size) {
  const EmbeddingBagOptions& table = config.table;
  const std::string_view kind = sharding_kind_name(sharding.kind);
  const bool replicated_or_split =
      sharding.kind == ShardingKind::column_wise ||
      sharding.kind == ShardingKind::data_parallel;
  if (replicated_or_split && table.max_norm)
    throw InvalidArgument(message(
        ShardedEmbeddingBagCollection::kName, ": table '", table.name, "' is ", kind,
        ", which cannot renormalise rows in place (max_norm); use row_wise or "
        "table_wise"));
  if (sharding.kind == ShardingKind::data_parallel && table.scale_grad_by_freq)
    throw InvalidArgument(message(ShardedEmbeddingBagCollection::kName, ": table '", table.name,
                                  "' is data_parallel, which does not support "
                                  "scale_grad_by_freq"));
  if (sharding.kind == ShardingKind::column_wise && table.embedding_dim < world_size)
    throw InvalidArgument(message(ShardedEmbeddingBagCollection::kName, ": table '", table.name,
                                  "' has ", table.embedding_dim,
                                  " columns, too few to split column-wise over ",
                                  world_size, " ranks"));
  if (table.padding_idx && (*table.padding_idx < -table.num_embeddings ||
                            *table.padding_idx >= table.num_embeddings))
    throw OutOfRange(message(ShardedEmbeddingBagCollection::kName, ": table '", table.name, "': padding_idx ",
                             *table.padding_idx, " is out of range [",
                             -table.num_embeddings, ", ", table.num_embeddings,
                             ")"));
  if (sharding.home_rank >= world_size)
    throw InvalidArgument(message(ShardedEmbeddingBagCollection::kName, ": table '", table.name,
                                  "' is placed on rank ", sharding.home_rank,
                                  " of only ", world_size));
}

}  // namespace

ShardedEmbeddingBagCollection::ShardedEmbeddingBagCollection(
    Communicator& comm, std::vector<CollectionTableConfig> tables,
    std::vector<TableSharding> sharding, std::vector<FeatureConfig> features,
    ShardedCollectionOptions options)
    : comm_(comm),
      options_(options),
      configs_(std::move(tables)),
      features_(std::move(features)) {
  if (sharding.size() != configs_.size())
    throw InvalidArgument(message(ShardedEmbeddingBagCollection::kName, ": ", configs_.size(),
                                  " tables but ", sharding.size(),
                                  " sharding entries"));
  // The unsharded collection checks names, references and weighted features;
  // a zero-row twin reuses those checks exactly. (Per-table options are
  // checked when each shard is built.)
  {
    std::vector<CollectionTableConfig> empty = configs_;
    for (auto& config : empty) {
      config.table.num_embeddings = 0;
      config.table.padding_idx.reset();
    }
    EmbeddingBagCollection check(empty, features_);
    for (int64_t f = 0; f < check.num_features(); ++f) {
      table_of_feature_.push_back(check.table_of(f));
      column_offsets_.push_back(check.column_offset(f));
      feature_names_.push_back(features_[f].name);
    }
    column_offsets_.push_back(check.total_dim());
  }

  const int world = comm_.size();
  for (std::size_t t = 0; t < configs_.size(); ++t) {
    TableSharding& plan = sharding[t];
    check_sharding_supports(configs_[t], plan, world);
    const EmbeddingBagOptions& global = configs_[t].table;
    const int home = plan.home_rank >= 0 ? plan.home_rank : static_cast<int>(t % world);
    layouts_.emplace_back(plan.kind, plan.placement, home, global.num_embeddings,
                          global.embedding_dim, world);
    const ShardLayout& layout = layouts_.back();

    EmbeddingBagOptions local = global;
    local.num_embeddings = layout.local_rows(comm_.rank());
    local.embedding_dim = layout.local_dim(comm_.rank());
    local.padding_idx = local_padding_row(layout, comm_.rank(), padding_row(global));
    try {
      RowStorage storage = initial_shard(layout, comm_.rank(), global.dtype,
                                         global.seed, padding_row(global));
      shards_.push_back(Shard{EmbeddingBag::from_pretrained(std::move(storage), local,
                                                            /*freeze=*/false),
                              make_optimizer(configs_[t].optimizer, local.num_embeddings,
                                             local.embedding_dim)});
    } catch (const OutOfMemory& error) {
      throw OutOfMemory(message(kName, ": table '", global.name, "' (", local.num_embeddings,
                                " x ", local.embedding_dim, " on rank ", comm_.rank(),
                                "): ", error.what()));
    }
  }
}

ShardedEmbeddingBagCollection::~ShardedEmbeddingBagCollection() = default;

FeatureView ShardedEmbeddingBagCollection::feature_view(const Tensor& output, int64_t f) const {
  return {output.values.data() + column_offsets_[f], output.shape.at(0),
          configs_[table_of(f)].table.embedding_dim, total_dim()};
}

FeatureView ShardedEmbeddingBagCollection::feature_view(const Tensor& output,
                                                        std::string_view feature) const {
  return feature_view(output, feature_position(kName, feature_names_, feature));
}

void ShardedEmbeddingBagCollection::load_shard(int64_t t, const RowReader& read_row,
                                               bool freeze) {
  const ShardLayout& layout = layouts_[t];
  const int me = comm_.rank();
  EmbeddingBag& shard = shards_[t].table;
  const int64_t rows = shard.num_embeddings();
  const int64_t dim = shard.embedding_dim();
  RowStorage storage = RowStorage::allocate(rows, dim, shard.weights().dtype());
  std::vector<float> values(dim);
  visit_element_type(storage.dtype(), [&]<typename Element>(Element) {
    for (int64_t local = 0; local < rows; ++local) {
      read_row(layout.global_row(me, local), layout.first_column(me), values);
      Element* out = storage.mutable_row<Element>(local);
      for (int64_t d = 0; d < dim; ++d) out[d] = from_float<Element>(values[d]);
    }
  });
  EmbeddingBagOptions options;
  static_cast<TableOptions&>(options) = shard.options();
  options.mode = shard.mode();
  shard = EmbeddingBag::from_pretrained(std::move(storage), options, freeze);
}

const EmbeddingBag* ShardedEmbeddingBagCollection::shard(int64_t t) const {
  return &shards_[t].table;
}

RowOptimizer* ShardedEmbeddingBagCollection::shard_optimizer(int64_t t) {
  return shards_[t].optimizer.get();
}

}  // namespace rowshard
