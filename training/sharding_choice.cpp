#include "training/sharding_choice.h"

#include <algorithm>
#include <cstdio>

#include "rowshard/sharding/auto_planner.h"
#include "rowshard/sharding/memory_limit.h"

namespace rowshard {

std::vector<TableSharding> choose_sharding(const config::JobConfig& job,
                                           const std::vector<CollectionTableConfig>& tables,
                                           const Communicator& comm) {
  AutoPlanInputs inputs;
  inputs.world_size = comm.size();
  inputs.limit = memory_limit_per_rank(job.memory_budget_mb << 20, ranks_on_this_machine());
  inputs.batch_size_per_rank = (job.batch_size + comm.size() - 1) / comm.size();
  const bool needs_auto =
      job.sharding == "auto" && std::any_of(job.tables.begin(), job.tables.end(),
                                            [](const config::TableSpec& t) { return !t.sharding; });
  AutoPlan plan;
  if (needs_auto) plan = plan_auto(tables, job.features, inputs);
  plan.sharding.resize(tables.size());
  for (std::size_t t = 0; t < tables.size(); ++t)
    if (job.tables[t].sharding)
      plan.sharding[t] = *job.tables[t].sharding;
    else if (job.sharding != "auto")
      plan.sharding[t] = *sharding_from_name(job.sharding);
  check_plan_fits(tables, plan.sharding, job.features, inputs);
  plan.ranks = plan_bytes(tables, plan.sharding, job.features, inputs);
  if (comm.rank() == 0) std::printf("%s", plan.describe(tables).c_str());
  return plan.sharding;
}

}  // namespace rowshard
