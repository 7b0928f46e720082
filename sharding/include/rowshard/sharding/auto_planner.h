// `auto` sharding: choose a placement per table from each rank's memory
// limit, say what every rank will hold, and refuse clearly when the tables
// cannot fit. Every plan, auto or chosen by hand, is checked here before its
// tables are allocated.
//
// The rules, in order:
//  - a table of at most `replicate_below_bytes` (weights + optimizer state)
//    is replicated (data-parallel): a copy everywhere costs little and saves
//    its ids an all-to-all;
//  - a table larger than half a rank's limit is split row-wise over every
//    rank;
//  - every other table goes whole to one rank (table-wise): the tables whose
//    features look up the most ids per example first, each onto the rank
//    with the fewest ids to look up so far (ties: the fewest bytes), so that
//    the ranks share the work of the step; tables the user placed by hand
//    count first, and a row-wise table spreads its ids over every rank;
//  - if some rank is then over its limit, table-wise tables are turned row-wise,
//    largest first, until every rank fits or none is left to turn.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "rowshard/engine/embedding_bag_collection.h"
#include "rowshard/sharding/memory_limit.h"
#include "rowshard/sharding/sharded_collection.h"

namespace rowshard {

struct AutoPlanInputs {
  int world_size = 1;
  MemoryLimit limit;  // per rank: host memory
  // Per rank: GPU memory, which holds the tables on device cuda kept in GPU
  // memory (cuda_memory device); unset when the job has no such table.
  // Tables in mapped host memory (cuda_memory host_mapped) count as host.
  std::optional<MemoryLimit> gpu_limit{};

  int64_t replicate_below_bytes = int64_t{1} << 20;
  // For the exchange buffers' estimate: examples per rank and step, and the
  // mean number of ids per (example, feature).
  int64_t batch_size_per_rank = 0;
  double mean_ids_per_bag = 1.0;
};

// What one rank will hold.
struct RankBytes {
  int64_t weights = 0;
  int64_t optimizer_state = 0;
  int64_t exchange_buffers = 0;
  // Of weights and optimizer_state, what is in GPU memory.
  int64_t gpu = 0;
  int64_t total() const { return weights + optimizer_state + exchange_buffers; }
  int64_t host() const { return total() - gpu; }
};

struct AutoPlan {
  std::vector<TableSharding> sharding;  // one per table
  std::vector<RankBytes> ranks;
  // A table, one line per rank, for the job to print before it starts.
  std::string describe(const std::vector<CollectionTableConfig>& tables) const;
};

// Tables with a sharding in `chosen` (one optional per table, or fewer)
// keep it and count in the ranks' loads before the others are placed.
// Throws InvalidArgument, as check_plan_fits does, when no plan fits.
AutoPlan plan_auto(const std::vector<CollectionTableConfig>& tables,
                   const std::vector<FeatureConfig>& features, const AutoPlanInputs& inputs,
                   const std::vector<std::optional<TableSharding>>& chosen = {});

// What every rank will hold under `sharding` (one per table, any kinds).
std::vector<RankBytes> plan_bytes(const std::vector<CollectionTableConfig>& tables,
                                  const std::vector<TableSharding>& sharding,
                                  const std::vector<FeatureConfig>& features,
                                  const AutoPlanInputs& inputs);

// Refuses, before anything is allocated, a plan that needs more host memory
// than `inputs.limit`, or more GPU memory than `inputs.gpu_limit`, on some
// rank: the InvalidArgument names that rank, its bytes, the table that takes
// most of them and its share, and the limit with where it comes from.
void check_plan_fits(const std::vector<CollectionTableConfig>& tables,
                     const std::vector<TableSharding>& sharding,
                     const std::vector<FeatureConfig>& features, const AutoPlanInputs& inputs);

// The bytes of a table's weights and of its optimizer state.
int64_t weight_bytes(const CollectionTableConfig& table);
int64_t optimizer_state_bytes(const CollectionTableConfig& table);

}  // namespace rowshard
