#include "training/sharding_choice.h"

#include <algorithm>
#include <cstdio>

#include "engine/cuda/cuda_backend.h"
#include "rowshard/sharding/auto_planner.h"
#include "rowshard/sharding/memory_limit.h"

namespace rowshard {
namespace {

// This rank's GPU's free memory, shared by the ranks on the machine that use
// the same GPU; unset when no table is kept in GPU memory.
std::optional<MemoryLimit> gpu_memory_limit(const config::JobConfig& job,
                                            const std::vector<CollectionTableConfig>& tables) {
  const bool any_in_gpu_memory = std::any_of(tables.begin(), tables.end(), [](const auto& t) {
    return memory_placement(t.table.device, t.table.cuda_memory) == MemoryPlacement::cuda_device;
  });
  if (!any_in_gpu_memory) return std::nullopt;
  const std::optional<cuda::DeviceMemory> memory = cuda::device_memory_info();
  if (!memory) throw InvalidArgument(message(job.file, ": device cuda: no GPU answers"));
  const int gpus = cuda_device_count();
  const int sharing = (ranks_on_this_machine() + gpus - 1) / gpus;
  return MemoryLimit{static_cast<int64_t>(memory->free_bytes) / sharing,
                     message("the GPU's free memory (cudaMemGetInfo)",
                             sharing > 1 ? message(" shared by ", sharing, " ranks") : "")};
}

}  // namespace

std::vector<TableSharding> choose_sharding(const config::JobConfig& job,
                                           const std::vector<CollectionTableConfig>& tables,
                                           const Communicator& comm) {
  AutoPlanInputs inputs;
  inputs.world_size = comm.size();
  inputs.limit = memory_limit_per_rank(job.memory_budget_mb << 20, ranks_on_this_machine());
  inputs.batch_size_per_rank = (job.batch_size + comm.size() - 1) / comm.size();
  inputs.gpu_limit = gpu_memory_limit(job, tables);
  const bool needs_auto =
      job.sharding == "auto" && std::any_of(job.tables.begin(), job.tables.end(),
                                            [](const config::TableSpec& t) { return !t.sharding; });
  std::vector<std::optional<TableSharding>> chosen;
  for (const config::TableSpec& table : job.tables) chosen.push_back(table.sharding);
  AutoPlan plan;
  if (needs_auto) plan = plan_auto(tables, job.features, inputs, chosen);
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
