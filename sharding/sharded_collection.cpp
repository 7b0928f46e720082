#include "rowshard/sharding/sharded_collection.h"

#include "engine/bag_layout.h"
#include "rowshard/engine/error.h"
#include "sharding/saved_exchange.h"
#include "sharding/shard_storage.h"

namespace rowshard {

namespace {

void check_sharding_supports(const CollectionTableConfig& config, const TableSharding& sharding,
                             int world_size) {
  const EmbeddingBagOptions& table = config.table;
  const std::string_view kind = sharding_kind_name(sharding.kind);
  const bool replicated_or_split =
      sharding.kind == ShardingKind::column_wise || sharding.kind == ShardingKind::data_parallel;
  if (replicated_or_split && table.max_norm)
    throw InvalidArgument(
        message(ShardedEmbeddingBagCollection::kName, ": table '", table.name, "' is ", kind,
                ", which cannot renormalise rows in place (max_norm); use row_wise or "
                "table_wise"));
  if (sharding.kind == ShardingKind::data_parallel && table.scale_grad_by_freq)
    throw InvalidArgument(message(ShardedEmbeddingBagCollection::kName, ": table '", table.name,
                                  "' is data_parallel, which does not support "
                                  "scale_grad_by_freq"));
  if (sharding.kind == ShardingKind::column_wise && table.embedding_dim < world_size)
    throw InvalidArgument(message(
        ShardedEmbeddingBagCollection::kName, ": table '", table.name, "' has ",
        table.embedding_dim, " columns, too few to split column-wise over ", world_size, " ranks"));
  if (table.padding_idx &&
      (*table.padding_idx < -table.num_embeddings || *table.padding_idx >= table.num_embeddings))
    throw OutOfRange(message(ShardedEmbeddingBagCollection::kName, ": table '", table.name,
                             "': padding_idx ", *table.padding_idx, " is out of range [",
                             -table.num_embeddings, ", ", table.num_embeddings, ")"));
  if (sharding.home_rank >= world_size)
    throw InvalidArgument(message(ShardedEmbeddingBagCollection::kName, ": table '", table.name,
                                  "' is placed on rank ", sharding.home_rank, " of only ",
                                  world_size));
}

}  // namespace

ShardedEmbeddingBagCollection::ShardedEmbeddingBagCollection(
    Communicator& comm, std::vector<CollectionTableConfig> tables,
    std::vector<TableSharding> sharding, std::vector<FeatureConfig> features,
    ShardedCollectionOptions options)
    : EmbeddingCollection(kName, std::move(tables), std::move(features)),
      comm_(comm),
      options_(options) {
  if (static_cast<int64_t>(sharding.size()) != num_tables())
    throw InvalidArgument(
        message(kName, ": ", num_tables(), " tables but ", sharding.size(), " sharding entries"));
  const int world = comm_.size();
  for (int64_t t = 0; t < num_tables(); ++t) {
    TableSharding& plan = sharding[t];
    check_sharding_supports(table_config(t), plan, world);
    const EmbeddingBagOptions& global = table_config(t).table;
    const int home = plan.home_rank >= 0 ? plan.home_rank : static_cast<int>(t % world);
    layouts_.emplace_back(plan.kind, plan.placement, home, global.num_embeddings,
                          global.embedding_dim, world);
    shards_.push_back(build_shard(table_config(t), layouts_.back()));
  }
}

ShardedEmbeddingBagCollection::Shard ShardedEmbeddingBagCollection::build_shard(
    const CollectionTableConfig& config, const ShardLayout& layout) const {
  const EmbeddingBagOptions& global = config.table;
  EmbeddingBagOptions local = global;
  local.num_embeddings = layout.local_rows(comm_.rank());
  local.embedding_dim = layout.local_dim(comm_.rank());
  local.padding_idx = local_padding_row(layout, comm_.rank(), padding_row(global));
  try {
    const MemoryPlacement placement = memory_placement(global);
    RowStorage storage = initial_shard(layout, comm_.rank(), global.dtype, global.seed,
                                       padding_row(global), placement);
    return Shard{
        EmbeddingBag::from_pretrained(std::move(storage), local, /*freeze=*/false),
        make_optimizer(config.optimizer, local.num_embeddings, local.embedding_dim, placement)};
  } catch (const OutOfMemory& error) {
    throw OutOfMemory(message(kName, ": table '", global.name, "' (", local.num_embeddings, " x ",
                              local.embedding_dim, " on rank ", comm_.rank(), "): ", error.what()));
  }
}

ShardedEmbeddingBagCollection::~ShardedEmbeddingBagCollection() = default;

const detail::SavedExchange& ShardedEmbeddingBagCollection::saved_of(
    const CollectionLookup& lookup) const {
  return static_cast<const detail::SavedExchange&>(state_of(lookup));
}

}  // namespace rowshard
