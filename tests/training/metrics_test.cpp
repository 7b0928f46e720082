#include "training/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace rowshard {
namespace {

// AUC straight from its definition: over all (positive, negative) pairs.
double pairwise_auc(const std::vector<float>& scores, const std::vector<float>& labels) {
  double wins = 0, pairs = 0;
  for (std::size_t i = 0; i < scores.size(); ++i)
    for (std::size_t j = 0; j < scores.size(); ++j)
      if (labels[i] == 1 && labels[j] == 0) {
        pairs += 1;
        wins += scores[i] > scores[j] ? 1.0 : scores[i] == scores[j] ? 0.5 : 0.0;
      }
  return wins / pairs;
}

TEST(Metrics, AucEqualsThePairwiseDefinitionWithTies) {
  std::mt19937_64 rng(2);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<float> scores(300), labels(300);
    for (std::size_t i = 0; i < scores.size(); ++i) {
      scores[i] = static_cast<float>(rng() % 17) / 16.0f;  // many ties
      labels[i] = static_cast<float>(rng() % 3 == 0);
    }
    EXPECT_NEAR(exact_auc(scores, labels), pairwise_auc(scores, labels), 1e-12);
  }
}

TEST(Metrics, AucEdgeCases) {
  EXPECT_EQ(exact_auc(std::vector<float>{0.1f, 0.9f}, std::vector<float>{0, 1}), 1.0);
  EXPECT_EQ(exact_auc(std::vector<float>{0.9f, 0.1f}, std::vector<float>{0, 1}), 0.0);
  EXPECT_TRUE(std::isnan(exact_auc(std::vector<float>{0.5f}, std::vector<float>{1})));
}

TEST(Metrics, LogLossOfKnownValues) {
  EXPECT_NEAR(log_loss(std::vector<float>{0.5f, 0.5f}, std::vector<float>{0, 1}), std::log(2.0),
              1e-7);
  EXPECT_NEAR(log_loss(std::vector<float>{0.9f}, std::vector<float>{1}), -std::log(0.9), 1e-7);
}

}  // namespace
}  // namespace rowshard
