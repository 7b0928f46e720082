// EmbeddingBag semantics on a table small enough to check by hand.
#include "rowshard/engine/embedding_bag.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "rowshard/engine/error.h"
#include "rowshard/engine/optimizers/rowwise_adagrad.h"
#include "rowshard/engine/optimizers/sgd.h"
#include "tests/engine/small_table.h"

namespace rowshard {
namespace {

using testing::kSmallTable;
using testing::small_table;
using testing::table_values;

EmbeddingBag trainable(PoolingMode mode, std::optional<int64_t> padding_idx = std::nullopt,
                       bool scale_grad_by_freq = false) {
  EmbeddingBagOptions options;
  options.name = "small";
  options.mode = mode;
  options.padding_idx = padding_idx;
  options.scale_grad_by_freq = scale_grad_by_freq;
  return EmbeddingBag::from_pretrained(small_table(), options, false);
}

// Bags {0, 1}, {}, {2, 3, 4}.
const std::vector<int64_t> kIndices = {0, 1, 2, 3, 4};
const std::vector<int64_t> kOffsets = {0, 2, 2};

BagInput with_offsets(const std::vector<int64_t>& indices, const std::vector<int64_t>& offsets) {
  return {indices, {static_cast<int64_t>(indices.size())}, offsets, std::nullopt, {}};
}

TEST(EmbeddingBag, SumPoolsEachBagAndEmptyBagsAreZero) {
  EmbeddingBag bag = trainable(PoolingMode::sum);
  const Lookup lookup = bag.forward(with_offsets(kIndices, kOffsets));
  EXPECT_EQ(lookup.output.shape, (Shape{3, 2}));
  // [1+3, 2-1], [0, 0], [-2+0.5+4, 5+0.25+4]
  EXPECT_THAT(lookup.output.values,
              ::testing::ElementsAreArray<float>({4.0f, 1.0f, 0.0f, 0.0f, 2.5f, 9.25f}));
}

TEST(EmbeddingBag, MeanIsTheDefaultMode) {
  EmbeddingBagOptions options;
  options.num_embeddings = 3;
  options.embedding_dim = 2;
  EXPECT_EQ(options.mode, PoolingMode::mean);
  EmbeddingBag bag(options);
  EXPECT_EQ(bag.mode(), PoolingMode::mean);
}

TEST(EmbeddingBag, MeanDividesByTheBagSize) {
  EmbeddingBag bag = trainable(PoolingMode::mean);
  const Lookup lookup = bag.forward(with_offsets(kIndices, kOffsets));
  const auto& out = lookup.output.values;
  EXPECT_FLOAT_EQ(out[0], 2.0f);
  EXPECT_FLOAT_EQ(out[1], 0.5f);
  EXPECT_EQ(out[2], 0.0f);
  EXPECT_EQ(out[3], 0.0f);
  EXPECT_FLOAT_EQ(out[4], 2.5f / 3);
  EXPECT_FLOAT_EQ(out[5], 9.25f / 3);
}

TEST(EmbeddingBag, MaxTakesEachColumnsMaximumAndEmptyBagsAreZero) {
  EmbeddingBag bag = trainable(PoolingMode::max);
  const Lookup lookup = bag.forward(with_offsets(kIndices, kOffsets));
  EXPECT_THAT(lookup.output.values,
              ::testing::ElementsAreArray<float>({3.0f, 2.0f, 0.0f, 0.0f, 4.0f, 5.0f}));
}

TEST(EmbeddingBag, MaxGradientGoesOnlyToEachColumnsWinner) {
  EmbeddingBag bag = trainable(PoolingMode::max);
  // One bag {0, 1, 2}: column 0 is won by row 1 (3.0), column 1 by row 2.
  const std::vector<int64_t> indices = {0, 1, 2};
  const std::vector<int64_t> offsets = {0};
  const Lookup lookup = bag.forward(with_offsets(indices, offsets));
  const Tensor gradient = bag.dense_gradient(lookup, std::vector{10.0f, 20.0f});
  EXPECT_THAT(gradient.values,
              ::testing::ElementsAreArray<float>({0, 0, 10, 0, 0, 20, 0, 0, 0, 0}));
}

TEST(EmbeddingBag, IncludeLastOffsetReadsTheLastOffsetAsTheEnd) {
  EmbeddingBagOptions options;
  options.mode = PoolingMode::sum;
  options.include_last_offset = true;
  EmbeddingBag bag = EmbeddingBag::from_pretrained(small_table(), options);
  const std::vector<int64_t> offsets = {0, 2, 2, 5};
  const Lookup lookup = bag.forward(with_offsets(kIndices, offsets));
  EXPECT_EQ(lookup.output.shape, (Shape{3, 2}));
  EXPECT_THAT(lookup.output.values,
              ::testing::ElementsAreArray<float>({4.0f, 1.0f, 0.0f, 0.0f, 2.5f, 9.25f}));
}

TEST(EmbeddingBag, TwoDimensionalInputIsFixedLengthBags) {
  EmbeddingBag bag = trainable(PoolingMode::sum);
  const std::vector<int64_t> indices = {0, 1, 2, 3};
  const Lookup lookup = bag.forward({indices, {2, 2}, std::nullopt, std::nullopt, {}});
  EXPECT_THAT(lookup.output.values, ::testing::ElementsAreArray<float>({4.0f, 1.0f, -1.5f, 5.25f}));
}

TEST(EmbeddingBag, PerSampleWeightsScaleRowsInSumMode) {
  EmbeddingBag bag = trainable(PoolingMode::sum);
  const std::vector<int64_t> indices = {0, 4};
  const std::vector<int64_t> offsets = {0};
  const std::vector<float> weights = {2.0f, -0.5f};
  BagInput input = with_offsets(indices, offsets);
  input.per_sample_weights = weights;
  const Lookup lookup = bag.forward(input);
  // 2 * [1, 2] - 0.5 * [4, 4]
  EXPECT_THAT(lookup.output.values, ::testing::ElementsAreArray<float>({0.0f, 2.0f}));
  // d out / d W[0] = 2 * grad, d out / d W[4] = -0.5 * grad
  const Tensor gradient = bag.dense_gradient(lookup, std::vector{1.0f, 3.0f});
  EXPECT_THAT(gradient.values,
              ::testing::ElementsAreArray<float>({2, 6, 0, 0, 0, 0, 0, 0, -0.5f, -1.5f}));
}

TEST(EmbeddingBag, PaddingIsLeftOutOfBagsAndOfTheMeansCount) {
  EmbeddingBag bag = trainable(PoolingMode::mean, /*padding_idx=*/1);
  // Bags {0, 1, 1} and {1}: the first averages row 0 alone, the second is
  // padding only and pools to zeros.
  const std::vector<int64_t> indices = {0, 1, 1, 1};
  const std::vector<int64_t> offsets = {0, 3};
  const Lookup lookup = bag.forward(with_offsets(indices, offsets));
  EXPECT_THAT(lookup.output.values, ::testing::ElementsAreArray<float>({1.0f, 2.0f, 0.0f, 0.0f}));
  const Tensor gradient = bag.dense_gradient(lookup, std::vector{5.0f, 7.0f, 11.0f, 13.0f});
  // Row 0 gets the first bag's whole gradient (count 1); row 1 gets none.
  EXPECT_THAT(gradient.values, ::testing::ElementsAreArray<float>({5, 7, 0, 0, 0, 0, 0, 0, 0, 0}));
}

TEST(EmbeddingBag, NegativePaddingIdxCountsFromTheEnd) {
  EmbeddingBagOptions options;
  options.num_embeddings = 5;
  options.embedding_dim = 2;
  options.padding_idx = -1;
  EmbeddingBag bag(options);
  EXPECT_EQ(bag.padding_idx(), 4);
  EXPECT_EQ(bag.weights().row<float>(4)[0], 0.0f);
  EXPECT_EQ(bag.weights().row<float>(4)[1], 0.0f);
}

TEST(EmbeddingBag, ScaleGradByFreqDividesByOccurrencesInTheBatch) {
  EmbeddingBag bag = trainable(PoolingMode::sum, std::nullopt, true);
  // Bags {0, 0} and {0, 2}: row 0 occurs three times in the batch.
  const std::vector<int64_t> indices = {0, 0, 0, 2};
  const std::vector<int64_t> offsets = {0, 2};
  const Lookup lookup = bag.forward(with_offsets(indices, offsets));
  const Tensor gradient = bag.dense_gradient(lookup, std::vector{3.0f, 6.0f, 9.0f, 12.0f});
  // Row 0: (2 * [3, 6] + [9, 12]) / 3; row 2: [9, 12] / 1.
  EXPECT_FLOAT_EQ(gradient.values[0], 5.0f);
  EXPECT_FLOAT_EQ(gradient.values[1], 8.0f);
  EXPECT_EQ(gradient.values[4], 9.0f);
  EXPECT_EQ(gradient.values[5], 12.0f);
}

TEST(EmbeddingBag, FromPretrainedKeepsThePaddingRowAsGiven) {
  EmbeddingBagOptions options;
  options.padding_idx = 3;
  EmbeddingBag bag = EmbeddingBag::from_pretrained(small_table(), options);
  EXPECT_EQ(table_values(bag.weights()), kSmallTable);
  EXPECT_TRUE(bag.frozen());
}

TEST(EmbeddingBag, NewTablesAreSeededAndZeroThePaddingRow) {
  EmbeddingBagOptions options;
  options.num_embeddings = 100;
  options.embedding_dim = 8;
  options.padding_idx = 7;
  options.seed = 42;
  const EmbeddingBag first(options);
  const EmbeddingBag again(options);
  options.seed = 43;
  const EmbeddingBag other(options);
  EXPECT_EQ(table_values(first.weights()), table_values(again.weights()));
  EXPECT_NE(table_values(first.weights()), table_values(other.weights()));
  for (int64_t d = 0; d < 8; ++d) EXPECT_EQ(first.weights().row<float>(7)[d], 0);
}

TEST(EmbeddingBag, StepChangesOnlyTheDistinctNonPaddingRowsLookedUp) {
  EmbeddingBag bag = trainable(PoolingMode::sum, /*padding_idx=*/2);
  RowWiseAdagrad adagrad(5, 2, {.lr = 0.1f, .weight_decay = 0.5f});
  const std::vector<int64_t> indices = {0, 2, 0, 4};
  const std::vector<int64_t> offsets = {0, 2};
  const Lookup lookup = bag.forward(with_offsets(indices, offsets));
  bag.step(lookup, std::vector{1.0f, 1.0f, 1.0f, 1.0f}, adagrad);

  const std::vector<float> after = table_values(bag.weights());
  for (int64_t r : {1, 2, 3}) {
    EXPECT_EQ(after[r * 2], kSmallTable[r * 2]) << "row " << r;
    EXPECT_EQ(after[r * 2 + 1], kSmallTable[r * 2 + 1]) << "row " << r;
    EXPECT_EQ(adagrad.state()[r], 0.0f) << "row " << r;
  }
  for (int64_t r : {0, 4}) {
    EXPECT_NE(after[r * 2], kSmallTable[r * 2]) << "row " << r;
    EXPECT_GT(adagrad.state()[r], 0.0f) << "row " << r;
  }
}

TEST(EmbeddingBag, FrozenTablesRefuseToStep) {
  EmbeddingBag bag = EmbeddingBag::from_pretrained(small_table(), {});
  const std::vector<int64_t> offsets = {0};
  const Lookup lookup = bag.forward(with_offsets(kIndices, offsets));
  Sgd sgd(5, 2, {});
  EXPECT_THROW(bag.step(lookup, std::vector{1.0f, 1.0f}, sgd), InvalidArgument);
  EXPECT_EQ(table_values(bag.weights()), kSmallTable);
}

}  // namespace
}  // namespace rowshard
