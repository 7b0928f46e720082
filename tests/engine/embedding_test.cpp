// Embedding semantics on a table small enough to check by hand.
#include "rowshard/engine/embedding.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "tests/engine/small_table.h"

namespace rowshard {
namespace {

using testing::kSmallTable;
using testing::small_table;
using testing::table_values;

Embedding trainable(EmbeddingOptions options = {}) {
  options.name = "small";
  return Embedding::from_pretrained(small_table(), options, false);
}

TEST(Embedding, AnyShapedIndicesGiveThatShapePlusDim) {
  Embedding embedding = trainable();
  const std::vector<int64_t> indices = {4, 0, 2, 2, 1, 3};
  const Lookup lookup = embedding.forward({indices, {1, 2, 3}});
  EXPECT_EQ(lookup.output.shape, (Shape{1, 2, 3, 2}));
  EXPECT_THAT(lookup.output.values,
              ::testing::ElementsAreArray<float>({4, 4, 1, 2, -2, 5, -2, 5, 3, -1, 0.5f, 0.25f}));
}

TEST(Embedding, AScalarIndexGivesOneRow) {
  Embedding embedding = trainable();
  const std::vector<int64_t> index = {2};
  const Lookup lookup = embedding.forward({index, {}});
  EXPECT_EQ(lookup.output.shape, (Shape{2}));
  EXPECT_THAT(lookup.output.values, ::testing::ElementsAreArray<float>({-2, 5}));
}

TEST(Embedding, PaddingRowIsReturnedAsStoredButGetsNoGradient) {
  EmbeddingOptions options;
  options.padding_idx = -2;  // row 3, non-zero in the pretrained table
  Embedding embedding = trainable(options);
  const std::vector<int64_t> indices = {3, 0, 3};
  const Lookup lookup = embedding.forward({indices, {3}});
  EXPECT_THAT(lookup.output.values,
              ::testing::ElementsAreArray<float>({0.5f, 0.25f, 1, 2, 0.5f, 0.25f}));
  const Tensor gradient = embedding.dense_gradient(lookup, std::vector<float>(6, 1.0f));
  EXPECT_THAT(gradient.values, ::testing::ElementsAreArray<float>({1, 1, 0, 0, 0, 0, 0, 0, 0, 0}));
}

TEST(Embedding, GradientSumsRepeatedIndices) {
  Embedding embedding = trainable();
  const std::vector<int64_t> indices = {1, 1, 4};
  const Lookup lookup = embedding.forward({indices, {3}});
  const Tensor gradient = embedding.dense_gradient(lookup, std::vector<float>{1, 2, 3, 4, 5, 6});
  EXPECT_THAT(gradient.values, ::testing::ElementsAreArray<float>({0, 0, 4, 6, 0, 0, 0, 0, 5, 6}));
}

TEST(Embedding, ScaleGradByFreqDividesByOccurrences) {
  EmbeddingOptions options;
  options.scale_grad_by_freq = true;
  Embedding embedding = trainable(options);
  const std::vector<int64_t> indices = {0, 0, 0, 1};
  const Lookup lookup = embedding.forward({indices, {4}});
  const Tensor gradient =
      embedding.dense_gradient(lookup, std::vector<float>{3, 3, 6, 6, 9, 9, 1, 1});
  EXPECT_FLOAT_EQ(gradient.values[0], 6.0f);  // (3 + 6 + 9) / 3
  EXPECT_FLOAT_EQ(gradient.values[1], 6.0f);
  EXPECT_EQ(gradient.values[2], 1.0f);
}

TEST(Embedding, MaxNormRenormalisesLookedUpRowsInPlace) {
  EmbeddingOptions options;
  options.max_norm = 1.0;
  Embedding embedding = trainable(options);
  // Row 4 = [4, 4] has L2 norm 4 * sqrt(2) > 1; row 3 has norm < 1;
  // rows 0..2 are not looked up and keep their norms above 1.
  const std::vector<int64_t> indices = {4, 3, 4};
  const Lookup lookup = embedding.forward({indices, {3}});
  const float scale = static_cast<float>(1.0 / (4.0 * std::sqrt(2.0) + 1e-7));
  const std::vector<float> after = table_values(embedding.weights());
  EXPECT_FLOAT_EQ(after[8], 4.0f * scale);
  EXPECT_FLOAT_EQ(after[9], 4.0f * scale);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(after[i], kSmallTable[i]) << i;
  EXPECT_EQ(lookup.output.values[0], after[8]);
}

TEST(Embedding, MaxNormHonoursTheNormType) {
  EmbeddingOptions options;
  options.max_norm = 2.0;
  options.norm_type = 1.0;
  Embedding embedding = trainable(options);
  const std::vector<int64_t> indices = {1};  // |3| + |-1| = 4 > 2
  embedding.forward({indices, {1}});
  const float scale = static_cast<float>(2.0 / (4.0 + 1e-7));
  EXPECT_FLOAT_EQ(embedding.weights().row<float>(1)[0], 3.0f * scale);
  EXPECT_FLOAT_EQ(embedding.weights().row<float>(1)[1], -1.0f * scale);
}

TEST(FunctionalEmbedding, LooksUpAndRenormalisesTheCallersTable) {
  RowStorage weights = small_table();
  EmbeddingOptions options;
  options.max_norm = 1.0;
  const std::vector<int64_t> indices = {0, 3};
  const Tensor output = embedding({indices, {2}}, weights, options);
  EXPECT_EQ(output.shape, (Shape{2, 2}));
  // Row 0 = [1, 2] has norm sqrt(5) > 1 and is scaled in the caller's table.
  const float scale = static_cast<float>(1.0 / (std::sqrt(5.0) + 1e-7));
  EXPECT_FLOAT_EQ(weights.row<float>(0)[1], 2.0f * scale);
  EXPECT_EQ(output.values[1], weights.row<float>(0)[1]);
  EXPECT_EQ(output.values[2], 0.5f);  // row 3 is under the norm
}

}  // namespace
}  // namespace rowshard
