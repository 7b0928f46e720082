#include "rowshard/sharding/auto_planner.h"

#include <gtest/gtest.h>

#include "rowshard/engine/error.h"

namespace rowshard {
namespace {

CollectionTableConfig table(std::string name, int64_t rows, int64_t dim) {
  CollectionTableConfig config;
  config.table.name = std::move(name);
  config.table.num_embeddings = rows;
  config.table.embedding_dim = dim;
  config.optimizer.kind = OptimizerKind::rowwise_adagrad;
  return config;
}

AutoPlanInputs inputs(int ranks, int64_t budget) {
  AutoPlanInputs in;
  in.world_size = ranks;
  in.limit = {budget, "memory_budget_mb"};
  in.replicate_below_bytes = 10'000;
  return in;
}

TEST(AutoPlanner, ReplicatesTinySplitsHugeAndPlacesTheRestWhole) {
  // tiny: 100 x 8 x 4 + 100 x 4 = 3,600 bytes; huge: 1M x 16 x 4 + 4M =
  // 68 MB; two 2.2 MB tables placed whole on different ranks.
  const std::vector<CollectionTableConfig> tables = {
      table("tiny", 100, 8), table("huge", 1'000'000, 16), table("mid_a", 100'000, 5),
      table("mid_b", 100'000, 5)};
  const AutoPlan plan = plan_auto(tables, {}, inputs(4, 100'000'000));
  EXPECT_EQ(plan.sharding[0].kind, ShardingKind::data_parallel);
  EXPECT_EQ(plan.sharding[1].kind, ShardingKind::row_wise);
  EXPECT_EQ(plan.sharding[2].kind, ShardingKind::table_wise);
  EXPECT_EQ(plan.sharding[3].kind, ShardingKind::table_wise);
  EXPECT_NE(plan.sharding[2].home_rank, plan.sharding[3].home_rank);

  // Rank of mid_a: its 2,000,000 + 400,000 bytes, a quarter of huge
  // (250,000 rows: 16,000,000 + 1,000,000) and all of tiny (3,200 + 400).
  const RankBytes& home = plan.ranks[plan.sharding[2].home_rank];
  EXPECT_EQ(home.weights, 2'000'000 + 16'000'000 + 3'200);
  EXPECT_EQ(home.optimizer_state, 400'000 + 1'000'000 + 400);
}

TEST(AutoPlanner, SplitsWholeTablesWhenARankWouldOverflow) {
  // Five 1 MB tables on two ranks of 2.8 MB: placed whole, one rank would
  // hold three (3 MB), so one table is split instead.
  std::vector<CollectionTableConfig> tables;
  for (const char* name : {"a", "b", "c", "d", "e"}) tables.push_back(table(name, 50'000, 4));
  const AutoPlan plan = plan_auto(tables, {}, inputs(2, 2'800'000));
  for (const RankBytes& rank : plan.ranks) EXPECT_LE(rank.total(), 5'000'000);
  EXPECT_TRUE(std::any_of(plan.sharding.begin(), plan.sharding.end(),
                          [](const auto& s) { return s.kind == ShardingKind::row_wise; }));
}

TEST(AutoPlanner, CountsTablesPlacedByHandAndSharesOutTheIdsLookedUp) {
  // by_hand sits whole on rank 0 with one feature. busy (three features)
  // then goes where no ids are looked up yet, rank 1, although it is the
  // smaller of the two left; big (one feature) evens out on rank 0.
  const std::vector<CollectionTableConfig> tables = {
      table("by_hand", 100'000, 5), table("big", 200'000, 5), table("busy", 50'000, 5)};
  const std::vector<FeatureConfig> features = {{"h", "by_hand", false},
                                               {"g", "big", false},
                                               {"b1", "busy", false},
                                               {"b2", "busy", false},
                                               {"b3", "busy", false}};
  const TableSharding on_rank_0{ShardingKind::table_wise, RowPlacement::contiguous, 0};
  const AutoPlan plan =
      plan_auto(tables, features, inputs(2, 100'000'000), {on_rank_0, std::nullopt});
  EXPECT_EQ(plan.sharding[0].kind, ShardingKind::table_wise);
  EXPECT_EQ(plan.sharding[0].home_rank, 0);
  EXPECT_EQ(plan.sharding[2].kind, ShardingKind::table_wise);
  EXPECT_EQ(plan.sharding[2].home_rank, 1);
  EXPECT_EQ(plan.sharding[1].kind, ShardingKind::table_wise);
  EXPECT_EQ(plan.sharding[1].home_rank, 0);
}

TEST(AutoPlanner, RefusesWhatCannotFitAndSaysHowMuchIsNeeded) {
  const std::vector<CollectionTableConfig> tables = {table("huge", 1'000'000, 64)};
  try {
    plan_auto(tables, {}, inputs(2, 10'000'000));
    FAIL() << "a 260 MB table fit in 2 x 10 MB";
  } catch (const InvalidArgument& error) {
    const std::string text = error.what();
    EXPECT_NE(text.find("would need 130000000 bytes"), std::string::npos) << text;
    EXPECT_NE(text.find("table 'huge' (row_wise) takes 130000000"), std::string::npos) << text;
    EXPECT_NE(text.find("limit of 10000000 bytes per rank set by memory_budget_mb"),
              std::string::npos)
        << text;
  }
}

CollectionTableConfig cuda_table(std::string name, int64_t rows, int64_t dim, CudaMemory memory) {
  CollectionTableConfig config = table(std::move(name), rows, dim);
  config.table.device = Device::cuda;
  config.table.cuda_memory = memory;
  return config;
}

TEST(AutoPlanner, CountsTablesInGpuMemoryAgainstTheGpuAndMappedOnesAgainstTheHost) {
  // gpu: 1M x 16 x 4 + 4M = 68 MB in GPU memory; mapped: 100,000 x 5 x 4 +
  // 400,000 = 2.4 MB of host memory.
  const std::vector<CollectionTableConfig> tables = {
      cuda_table("gpu", 1'000'000, 16, CudaMemory::device),
      cuda_table("mapped", 100'000, 5, CudaMemory::host_mapped)};
  const std::vector<TableSharding> whole(2,
                                         {ShardingKind::table_wise, RowPlacement::contiguous, 0});
  AutoPlanInputs in = inputs(1, 3'000'000);
  in.gpu_limit = MemoryLimit{70'000'000, "the GPU's free memory"};
  const std::vector<RankBytes> bytes = plan_bytes(tables, whole, {}, in);
  EXPECT_EQ(bytes[0].gpu, 68'000'000);
  EXPECT_EQ(bytes[0].host(), 2'400'000);
  EXPECT_NO_THROW(check_plan_fits(tables, whole, {}, in));

  in.gpu_limit->bytes = 60'000'000;
  try {
    check_plan_fits(tables, whole, {}, in);
    FAIL() << "68 MB of GPU tables fit in 60 MB of GPU memory";
  } catch (const InvalidArgument& error) {
    const std::string text = error.what();
    EXPECT_NE(text.find("would need 68000000 bytes of GPU memory"), std::string::npos) << text;
    EXPECT_NE(text.find("table 'gpu' (table_wise) takes 68000000"), std::string::npos) << text;
    EXPECT_NE(text.find("set by the GPU's free memory"), std::string::npos) << text;
    EXPECT_NE(text.find("cuda_memory: host_mapped"), std::string::npos) << text;
  }

  in = inputs(1, 2'000'000);  // the mapped table alone overflows the host
  in.gpu_limit = MemoryLimit{70'000'000, "the GPU's free memory"};
  EXPECT_THROW(check_plan_fits(tables, whole, {}, in), InvalidArgument);
}

TEST(AutoPlanner, CountsExchangeBuffers) {
  AutoPlanInputs in = inputs(2, 1'000'000'000);
  in.replicate_below_bytes = 100'000;
  in.batch_size_per_rank = 1000;
  in.mean_ids_per_bag = 2.0;
  const AutoPlan plan = plan_auto({table("t", 1000, 8)}, {{"f", "t", false}}, in);
  // 2,000 ids x 24 bytes + 1,000 examples x 8 floats x 16 bytes.
  EXPECT_EQ(plan.ranks[0].exchange_buffers, 2000 * 24 + 1000 * 8 * 16);
  EXPECT_NE(plan.describe({table("t", 1000, 8)}).find("table t: data_parallel"), std::string::npos);
}

}  // namespace
}  // namespace rowshard
