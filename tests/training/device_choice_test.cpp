// Which GPU each rank of a machine gets, and when ranks must share one.
#include "training/device_choice.h"

#include <gtest/gtest.h>

namespace rowshard {
namespace {

TEST(DeviceChoice, CpuTablesGetNoGpu) {
  const DeviceChoice choice = choose_device(Device::cpu, 1, 2, 0);
  EXPECT_EQ(choice.gpu, -1);
  EXPECT_FALSE(choice.shares_gpu);
  EXPECT_EQ(describe(choice, 2, 0), "CPU");
}

TEST(DeviceChoice, EachRankGetsTheGpuOfItsLocalRank) {
  for (int rank = 0; rank < 4; ++rank) {
    const DeviceChoice choice = choose_device(Device::cuda, rank, 4, 4);
    EXPECT_EQ(choice.gpu, rank);
    EXPECT_FALSE(choice.shares_gpu);
  }
  EXPECT_EQ(describe(choose_device(Device::cuda, 2, 4, 4), 4, 4), "GPU 2 of 4");
}

TEST(DeviceChoice, RanksThatOutnumberTheGpusShareThemRoundRobin) {
  EXPECT_EQ(choose_device(Device::cuda, 0, 3, 2).gpu, 0);
  EXPECT_EQ(choose_device(Device::cuda, 1, 3, 2).gpu, 1);
  EXPECT_EQ(choose_device(Device::cuda, 2, 3, 2).gpu, 0);
  EXPECT_TRUE(choose_device(Device::cuda, 2, 3, 2).shares_gpu);
  EXPECT_EQ(describe(choose_device(Device::cuda, 1, 2, 1), 2, 1),
            "GPU 0 of 1 (shared: 2 ranks on 1 GPU(s))");
}

}  // namespace
}  // namespace rowshard
