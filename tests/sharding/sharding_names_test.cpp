#include <gtest/gtest.h>

#include <string>

#include "rowshard/engine/shard_layout.h"

namespace rowshard {
namespace {

// The names docs/config.md documents for `sharding` (auto aside: that is the job's).
constexpr std::string_view kDocumentedNames[] = {"row_wise", "row_wise_cyclic", "table_wise",
                                                 "column_wise", "data_parallel"};

TEST(ShardingNames, EveryDocumentedNameParsesAndRoundTrips) {
  for (std::string_view name : kDocumentedNames) {
    const std::optional<TableSharding> sharding = sharding_from_name(name);
    ASSERT_TRUE(sharding) << name;
    EXPECT_EQ(sharding_name(*sharding), name);
    EXPECT_EQ(name.substr(0, sharding_kind_name(sharding->kind).size()),
              sharding_kind_name(sharding->kind));
  }
}

TEST(ShardingNames, NamesMeanTheirLayouts) {
  EXPECT_EQ(sharding_from_name("row_wise")->kind, ShardingKind::row_wise);
  EXPECT_EQ(sharding_from_name("row_wise")->placement, RowPlacement::contiguous);
  EXPECT_EQ(sharding_from_name("row_wise_cyclic")->kind, ShardingKind::row_wise);
  EXPECT_EQ(sharding_from_name("row_wise_cyclic")->placement, RowPlacement::cyclic);
  EXPECT_EQ(sharding_from_name("table_wise")->kind, ShardingKind::table_wise);
  EXPECT_EQ(sharding_from_name("column_wise")->kind, ShardingKind::column_wise);
  EXPECT_EQ(sharding_from_name("data_parallel")->kind, ShardingKind::data_parallel);
}

TEST(ShardingNames, UnknownNamesAreRefusedAndTheValidOnesListed) {
  for (std::string_view name : {"cyclic", "row", "auto", "", "Row_Wise"})
    EXPECT_FALSE(sharding_from_name(name)) << name;
  EXPECT_EQ(valid_sharding_names(),
            "row_wise, row_wise_cyclic, table_wise, column_wise, data_parallel");
}

}  // namespace
}  // namespace rowshard
