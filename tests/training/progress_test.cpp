#include "training/progress.h"

#include <gtest/gtest.h>

namespace rowshard {
namespace {

TEST(RecentLosses, NoMeanBeforeAnyExample) {
  RecentLosses losses;
  EXPECT_FALSE(losses.mean().has_value());
  losses.add({0.0, 0.0});
  EXPECT_FALSE(losses.mean().has_value());
}

TEST(RecentLosses, MeanIsOverTheExamplesOfTheLastHundredSteps) {
  RecentLosses losses;
  losses.add({3.0, 4.0});
  losses.add({1.0, 1.0});
  EXPECT_EQ(losses.mean(), 4.0 / 5.0);
  // Step i: loss sum i over 2 examples; steps 0..149 leave 50..149.
  RecentLosses window;
  for (int i = 0; i < 150; ++i) window.add({static_cast<double>(i), 2.0});
  ASSERT_EQ(window.steps().size(), RecentLosses::kWindowSteps);
  EXPECT_EQ(window.steps().front().loss_sum, 50.0);
  EXPECT_EQ(window.mean(), (50.0 + 149.0) * 100 / 2 / 200.0);
}

}  // namespace
}  // namespace rowshard
