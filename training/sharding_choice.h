// How the job's tables are split over the ranks.
#pragma once

#include <vector>

#include "rowshard/sharding/communicator.h"
#include "training/config/job_config.h"

namespace rowshard {

// Each table's own sharding, else the job's; `auto` fills in the rest
// within each rank's memory limit. Whatever chose it, the plan is checked
// against that limit before any table exists (throwing what the planner
// throws, naming the table and the limit), and rank 0 prints it. `tables`
// are the job's, in config order.
std::vector<TableSharding> choose_sharding(const config::JobConfig& job,
                                           const std::vector<CollectionTableConfig>& tables,
                                           const Communicator& comm);

}  // namespace rowshard
