#include "engine/normal_init.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <vector>

namespace rowshard {
namespace {

TEST(NormalInit, SamplesLookStandardNormal) {
  std::vector<float> values(1 << 20);
  fill_standard_normal(values, 3);
  double sum = 0, sum_squares = 0;
  int beyond_three_sigma = 0;
  for (float v : values) {
    sum += v;
    sum_squares += static_cast<double>(v) * v;
    beyond_three_sigma += std::fabs(v) > 3.0f;
  }
  const double n = static_cast<double>(values.size());
  const double mean = sum / n;
  EXPECT_NEAR(mean, 0.0, 0.005);
  EXPECT_NEAR(sum_squares / n - mean * mean, 1.0, 0.01);
  // P(|z| > 3) = 0.0027
  EXPECT_NEAR(beyond_three_sigma / n, 0.0027, 0.0005);
}

TEST(NormalInit, IndependentOfThreadCountAndOfSharding) {
  std::vector<float> one(10001), two(10001), tail(5001);
  omp_set_num_threads(1);
  fill_standard_normal(one, 11);
  omp_set_num_threads(2);
  fill_standard_normal(two, 11);
  EXPECT_EQ(one, two);
  // A shard starting at element 5000 sees the same values as the whole.
  fill_standard_normal(tail, 11, 5000);
  EXPECT_TRUE(std::equal(tail.begin(), tail.end(), one.begin() + 5000));
}

TEST(NormalInit, RunsOfDrawsEqualOneElementAtATime) {
  // Starts and lengths either side of a pair and of a group of 32: a run
  // may begin or end in the middle of either.
  for (const uint64_t first : {0, 1, 2, 7, 1000}) {
    for (const std::size_t count : {0, 1, 2, 3, 64, 65}) {
      std::vector<float> values(count);
      standard_normals(values, 9, first);
      for (std::size_t i = 0; i < count; ++i)
        ASSERT_EQ(values[i], standard_normal_at(9, first + i))
            << "first " << first << ", count " << count << ", element " << i;
    }
  }
  std::vector<float> filled(20001);
  fill_standard_normal(filled, 9, 3);
  for (std::size_t i = 0; i < filled.size(); ++i)
    ASSERT_EQ(filled[i], standard_normal_at(9, 3 + i)) << "element " << i;
}

TEST(NormalInit, SeedsGiveDifferentStreams) {
  std::vector<float> a(100), b(100);
  fill_standard_normal(a, 1);
  fill_standard_normal(b, 2);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace rowshard
