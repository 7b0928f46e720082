#include "rowshard/sharding/auto_planner.h"

#include <algorithm>
#include <numeric>
#include <sstream>
#include <tuple>

#include "rowshard/engine/error.h"

namespace rowshard {
namespace {

// Bytes a rank moves per id it looks up: the id and its inverse index out,
// the id again at the owner, a weight.
constexpr int64_t kBytesPerId = 8 + 4 + 8 + 4;
// Per output float: the partial result in, its gradient out, on both sides.
constexpr int64_t kBytesPerOutputFloat = 4 * 4;

int64_t table_bytes(const CollectionTableConfig& table) {
  return weight_bytes(table) + optimizer_state_bytes(table);
}

bool in_gpu_memory(const EmbeddingBagOptions& table) {
  return memory_placement(table.device, table.cuda_memory) == MemoryPlacement::cuda_device;
}

// What a table puts on each rank: its weights and optimizer state there.
std::vector<RankBytes> table_bytes_by_rank(const CollectionTableConfig& table,
                                           const TableSharding& sharding, int ranks) {
  const EmbeddingBagOptions& options = table.table;
  const ShardLayout layout(sharding.kind, sharding.placement, std::max(0, sharding.home_rank),
                           options.num_embeddings, options.embedding_dim, ranks);
  const double state_per_weight =
      static_cast<double>(optimizer_state_bytes(table)) /
      static_cast<double>(std::max<int64_t>(1, options.num_embeddings * options.embedding_dim));
  std::vector<RankBytes> bytes(ranks);
  for (int k = 0; k < ranks; ++k) {
    const int64_t elements = layout.local_rows(k) * layout.local_dim(k);
    bytes[k].weights = elements * static_cast<int64_t>(dtype_size(options.dtype));
    bytes[k].optimizer_state =
        static_cast<int64_t>(static_cast<double>(elements) * state_per_weight);
    if (in_gpu_memory(options)) bytes[k].gpu = bytes[k].weights + bytes[k].optimizer_state;
  }
  return bytes;
}

int64_t exchange_buffer_bytes(const std::vector<CollectionTableConfig>& tables,
                              const std::vector<FeatureConfig>& features,
                              const AutoPlanInputs& in) {
  int64_t output_floats = 0;
  for (const FeatureConfig& feature : features)
    for (const CollectionTableConfig& table : tables)
      if (table.table.name == feature.table) output_floats += table.table.embedding_dim;
  const auto ids = static_cast<int64_t>(static_cast<double>(in.batch_size_per_rank) *
                                        in.mean_ids_per_bag * static_cast<double>(features.size()));
  return ids * kBytesPerId + in.batch_size_per_rank * output_floats * kBytesPerOutputFloat;
}

int64_t largest(const std::vector<RankBytes>& bytes) {
  int64_t most = 0;
  for (const RankBytes& rank : bytes) most = std::max(most, rank.total());
  return most;
}

}  // namespace

int64_t weight_bytes(const CollectionTableConfig& table) {
  return table.table.num_embeddings * table.table.embedding_dim *
         static_cast<int64_t>(dtype_size(table.table.dtype));
}

int64_t optimizer_state_bytes(const CollectionTableConfig& table) {
  switch (table.optimizer.kind) {
    case OptimizerKind::sgd: return 0;
    case OptimizerKind::adagrad: return table.table.num_embeddings * table.table.embedding_dim * 4;
    case OptimizerKind::rowwise_adagrad: break;
  }
  return table.table.num_embeddings * 4;
}

namespace {

// Ids table t's features look up per example and step, all ranks together.
double ids_per_example(const CollectionTableConfig& table,
                       const std::vector<FeatureConfig>& features, double mean_ids_per_bag) {
  const auto uses = std::count_if(features.begin(), features.end(), [&](const FeatureConfig& f) {
    return f.table == table.table.name;
  });
  return static_cast<double>(uses) * mean_ids_per_bag;
}

// What each rank has taken on so far: ids to look up and update per
// example, and bytes.
struct RankLoad {
  double ids = 0;
  int64_t bytes = 0;
  bool operator<(const RankLoad& other) const {
    return std::tie(ids, bytes) < std::tie(other.ids, other.bytes);
  }
};

// Counts a table under `sharding` in the ranks' loads. A replicated table
// costs every rank alike, so it changes no choice and is not counted.
void add_load(const CollectionTableConfig& table, const TableSharding& sharding, double ids,
              std::vector<RankLoad>& load) {
  const auto ranks = static_cast<int>(load.size());
  const std::vector<RankBytes> bytes = table_bytes_by_rank(table, sharding, ranks);
  for (int k = 0; k < ranks; ++k) load[k].bytes += bytes[k].total();
  if (sharding.kind == ShardingKind::table_wise)
    load[std::max(0, sharding.home_rank)].ids += ids;
  else if (sharding.kind != ShardingKind::data_parallel)
    for (RankLoad& rank : load) rank.ids += ids / ranks;
}

// If some rank is over its limit, turns the placed table-wise tables
// row-wise, largest first, until every rank fits or none is left.
void turn_row_wise_until_it_fits(const std::vector<CollectionTableConfig>& tables,
                                 const std::vector<FeatureConfig>& features,
                                 const AutoPlanInputs& in, std::vector<std::size_t> placed,
                                 AutoPlan& plan) {
  std::stable_sort(placed.begin(), placed.end(), [&](std::size_t a, std::size_t b) {
    return table_bytes(tables[a]) > table_bytes(tables[b]);
  });
  plan.ranks = plan_bytes(tables, plan.sharding, features, in);
  for (std::size_t t : placed) {
    if (largest(plan.ranks) <= in.limit.bytes) break;
    if (plan.sharding[t].kind != ShardingKind::table_wise) continue;
    plan.sharding[t] = {ShardingKind::row_wise, RowPlacement::contiguous, -1};
    plan.ranks = plan_bytes(tables, plan.sharding, features, in);
  }
}

}  // namespace

AutoPlan plan_auto(const std::vector<CollectionTableConfig>& tables,
                   const std::vector<FeatureConfig>& features, const AutoPlanInputs& in,
                   const std::vector<std::optional<TableSharding>>& chosen) {
  const int ranks = in.world_size;
  auto chosen_for = [&](std::size_t t) { return t < chosen.size() ? chosen[t] : std::nullopt; };
  std::vector<double> ids(tables.size());
  for (std::size_t t = 0; t < tables.size(); ++t)
    ids[t] = ids_per_example(tables[t], features, in.mean_ids_per_bag);
  AutoPlan plan;
  plan.sharding.resize(tables.size());
  std::vector<RankLoad> load(ranks);
  std::vector<std::size_t> to_place;
  for (std::size_t t = 0; t < tables.size(); ++t) {
    if (const std::optional<TableSharding> by_hand = chosen_for(t)) {
      plan.sharding[t] = *by_hand;
      add_load(tables[t], *by_hand, ids[t], load);
    } else {
      to_place.push_back(t);
    }
  }
  // The busiest tables first, so that the last ones even out the ranks.
  std::stable_sort(to_place.begin(), to_place.end(), [&](std::size_t a, std::size_t b) {
    const int64_t bytes_a = table_bytes(tables[a]), bytes_b = table_bytes(tables[b]);
    return std::tie(ids[a], bytes_a) > std::tie(ids[b], bytes_b);
  });
  for (std::size_t t : to_place) {
    const int64_t bytes = table_bytes(tables[t]);
    TableSharding& choice = plan.sharding[t];
    if (bytes <= in.replicate_below_bytes && !tables[t].table.max_norm &&
        !tables[t].table.scale_grad_by_freq) {
      choice.kind = ShardingKind::data_parallel;
    } else if (ranks == 1 || bytes > in.limit.bytes / 2) {
      choice.kind = ShardingKind::row_wise;
    } else {
      choice.kind = ShardingKind::table_wise;
      choice.home_rank =
          static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
    }
    add_load(tables[t], choice, ids[t], load);
  }
  turn_row_wise_until_it_fits(tables, features, in, to_place, plan);
  check_plan_fits(tables, plan.sharding, features, in);
  return plan;
}

std::vector<RankBytes> plan_bytes(const std::vector<CollectionTableConfig>& tables,
                                  const std::vector<TableSharding>& sharding,
                                  const std::vector<FeatureConfig>& features,
                                  const AutoPlanInputs& in) {
  std::vector<RankBytes> bytes(in.world_size);
  for (std::size_t t = 0; t < tables.size(); ++t) {
    const std::vector<RankBytes> table = table_bytes_by_rank(tables[t], sharding[t], in.world_size);
    for (int k = 0; k < in.world_size; ++k) {
      bytes[k].weights += table[k].weights;
      bytes[k].optimizer_state += table[k].optimizer_state;
      bytes[k].gpu += table[k].gpu;
    }
  }
  const int64_t exchange = exchange_buffer_bytes(tables, features, in);
  for (RankBytes& rank : bytes) rank.exchange_buffers = exchange;
  return bytes;
}

namespace {

// The rank whose `memory` (host or GPU bytes) is the largest.
template <typename Memory>
int fullest_rank(const std::vector<RankBytes>& bytes, Memory memory) {
  return static_cast<int>(std::max_element(bytes.begin(), bytes.end(),
                                           [&](const RankBytes& a, const RankBytes& b) {
                                             return memory(a) < memory(b);
                                           }) -
                          bytes.begin());
}

// Refuses the plan if rank `fullest` needs more of `memory` than `limit`.
template <typename Memory>
void check_memory_fits(const std::vector<CollectionTableConfig>& tables,
                       const std::vector<TableSharding>& sharding, int ranks,
                       const std::vector<RankBytes>& bytes, const MemoryLimit& limit,
                       std::string_view what, Memory memory) {
  const int fullest = fullest_rank(bytes, memory);
  if (memory(bytes[fullest]) <= limit.bytes) return;
  std::size_t biggest = 0;
  int64_t biggest_bytes = -1;
  for (std::size_t t = 0; t < tables.size(); ++t) {
    const int64_t here = memory(table_bytes_by_rank(tables[t], sharding[t], ranks)[fullest]);
    if (here > biggest_bytes) std::tie(biggest, biggest_bytes) = std::tie(t, here);
  }
  const bool on_gpu = in_gpu_memory(tables[biggest].table);
  throw InvalidArgument(message(
      "sharding: rank ", fullest, " of ", ranks, " would need ", memory(bytes[fullest]),
      " bytes of ", what, ", of which table '", tables[biggest].table.name, "' (",
      sharding_kind_name(sharding[biggest].kind), ") takes ", biggest_bytes, ", over the limit of ",
      limit.bytes, " bytes per rank set by ", limit.source, "; add ranks",
      sharding[biggest].kind == ShardingKind::row_wise ? "" : ", shard the table row-wise",
      on_gpu ? ", store weights in f16/bf16, or keep the table in mapped host memory "
               "(cuda_memory: host_mapped)"
             : ", or store weights in f16/bf16"));
}

}  // namespace

void check_plan_fits(const std::vector<CollectionTableConfig>& tables,
                     const std::vector<TableSharding>& sharding,
                     const std::vector<FeatureConfig>& features, const AutoPlanInputs& in) {
  const std::vector<RankBytes> bytes = plan_bytes(tables, sharding, features, in);
  check_memory_fits(tables, sharding, in.world_size, bytes, in.limit,
                    "host memory (weights, optimizer state and exchange buffers)",
                    [](const RankBytes& rank) { return rank.host(); });
  if (in.gpu_limit)
    check_memory_fits(tables, sharding, in.world_size, bytes, *in.gpu_limit,
                      "GPU memory (weights and optimizer state)",
                      [](const RankBytes& rank) { return rank.gpu; });
}

std::string AutoPlan::describe(const std::vector<CollectionTableConfig>& tables) const {
  std::ostringstream out;
  out << "sharding plan:\n";
  for (std::size_t t = 0; t < tables.size(); ++t) {
    out << "  table " << tables[t].table.name << ": " << sharding_kind_name(sharding[t].kind);
    if (sharding[t].kind == ShardingKind::table_wise) out << " on rank " << sharding[t].home_rank;
    out << "\n";
  }
  const bool any_gpu =
      std::any_of(ranks.begin(), ranks.end(), [](const RankBytes& rank) { return rank.gpu > 0; });
  out << "  rank  weights_bytes  optimizer_bytes  exchange_bytes  total_bytes"
      << (any_gpu ? "  of_which_gpu_bytes" : "") << "\n";
  for (std::size_t k = 0; k < ranks.size(); ++k) {
    out << "  " << k << "  " << ranks[k].weights << "  " << ranks[k].optimizer_state << "  "
        << ranks[k].exchange_buffers << "  " << ranks[k].total();
    if (any_gpu) out << "  " << ranks[k].gpu;
    out << "\n";
  }
  return out.str();
}

}  // namespace rowshard
