// Bad input is refused with a message naming the table, the value, its
// position and the valid range, and nothing is written.
#include <gtest/gtest.h>

#include "rowshard/engine/embedding.h"
#include "rowshard/engine/embedding_bag.h"
#include "rowshard/engine/error.h"
#include "rowshard/engine/optimizers/sgd.h"
#include "tests/engine/small_table.h"

namespace rowshard {
namespace {

using testing::kSmallTable;
using testing::small_table;
using testing::table_values;

EmbeddingBag bag_with(PoolingMode mode, bool include_last_offset = false) {
  EmbeddingBagOptions options;
  options.name = "user_id";
  options.mode = mode;
  options.include_last_offset = include_last_offset;
  // max_norm makes a forward write, so "nothing is written" is tested too.
  options.max_norm = 0.5;
  return EmbeddingBag::from_pretrained(small_table(), options, false);
}

// Runs `call`, expecting an exception of type E whose message is `expected`.
template <typename E, typename Call>
void expect_refusal(Call call, const std::string& expected) {
  try {
    call();
    FAIL() << "no exception; expected: " << expected;
  } catch (const E& error) {
    EXPECT_EQ(std::string(error.what()), expected);
  }
}

BagInput input_of(const std::vector<int64_t>& indices, const std::vector<int64_t>& offsets) {
  return {indices, {static_cast<int64_t>(indices.size())}, offsets, std::nullopt, {}};
}

TEST(Validation, IndexOutOfRangeNamesTableValuePositionAndRange) {
  EmbeddingBag bag = bag_with(PoolingMode::sum);
  const std::vector<int64_t> indices = {0, 1, 2, 3, 4, 12};
  const std::vector<int64_t> offsets = {0};
  expect_refusal<OutOfRange>(
      [&] { bag.forward(input_of(indices, offsets)); },
      "EmbeddingBag 'user_id': index 12 at position 5 is out of range [0, 5)");
  EXPECT_EQ(table_values(bag.weights()), kSmallTable);
}

TEST(Validation, NegativeIndexIsOutOfRange) {
  EmbeddingOptions options;
  options.name = "item";
  options.max_norm = 0.5;
  Embedding embedding = Embedding::from_pretrained(small_table(), options, false);
  const std::vector<int64_t> indices = {1, -1};
  expect_refusal<OutOfRange>(
      [&] {
        embedding.forward({indices, {2}});
      },
      "Embedding 'item': index -1 at position 1 is out of range [0, 5)");
  EXPECT_EQ(table_values(embedding.weights()), kSmallTable);
}

TEST(Validation, OffsetsMustStartAtZero) {
  EmbeddingBag bag = bag_with(PoolingMode::mean);
  const std::vector<int64_t> indices = {0, 1};
  const std::vector<int64_t> offsets = {1};
  expect_refusal<InvalidArgument>([&] { bag.forward(input_of(indices, offsets)); },
                                  "EmbeddingBag 'user_id': offsets[0] must be 0, got 1");
  EXPECT_EQ(table_values(bag.weights()), kSmallTable);
}

TEST(Validation, OffsetsMustNotDecrease) {
  EmbeddingBag bag = bag_with(PoolingMode::mean);
  const std::vector<int64_t> indices = {0, 1, 2};
  const std::vector<int64_t> offsets = {0, 2, 1};
  expect_refusal<InvalidArgument>(
      [&] { bag.forward(input_of(indices, offsets)); },
      "EmbeddingBag 'user_id': offsets must not decrease, but offsets[2] = 1 "
      "< offsets[1] = 2");
}

TEST(Validation, OffsetPastTheEndIsOutOfRange) {
  EmbeddingBag bag = bag_with(PoolingMode::mean);
  const std::vector<int64_t> indices = {0, 1, 2};
  const std::vector<int64_t> offsets = {0, 4};
  expect_refusal<OutOfRange>(
      [&] { bag.forward(input_of(indices, offsets)); },
      "EmbeddingBag 'user_id': offset 4 at position 1 is past the end of the "
      "input; valid range [0, 3]");
}

TEST(Validation, PerSampleWeightsOnlyInSumMode) {
  for (PoolingMode mode : {PoolingMode::mean, PoolingMode::max}) {
    EmbeddingBag bag = bag_with(mode);
    const std::vector<int64_t> indices = {0, 1};
    const std::vector<int64_t> offsets = {0};
    const std::vector<float> weights = {1.0f, 2.0f};
    BagInput input = input_of(indices, offsets);
    input.per_sample_weights = weights;
    expect_refusal<InvalidArgument>(
        [&] { bag.forward(input); },
        std::string("EmbeddingBag 'user_id': per_sample_weights is only "
                    "supported in sum mode, not ") +
            std::string(pooling_mode_name(mode)));
    EXPECT_EQ(table_values(bag.weights()), kSmallTable);
  }
}

TEST(Validation, PerSampleWeightsMustMatchTheIndices) {
  EmbeddingBag bag = bag_with(PoolingMode::sum);
  const std::vector<int64_t> indices = {0, 1, 2};
  const std::vector<int64_t> offsets = {0};
  const std::vector<float> weights = {1.0f, 2.0f};
  BagInput input = input_of(indices, offsets);
  input.per_sample_weights = weights;
  expect_refusal<InvalidArgument>(
      [&] { bag.forward(input); },
      "EmbeddingBag 'user_id': per_sample_weights has 2 elements, expected 3");

  input.per_sample_weights_shape = {3, 1};
  expect_refusal<InvalidArgument>(
      [&] { bag.forward(input); },
      "EmbeddingBag 'user_id': per_sample_weights has shape [3, 1], expected "
      "[3]");
}

TEST(Validation, InputFormMustBeOneOfPyTorchs) {
  EmbeddingBag bag = bag_with(PoolingMode::sum);
  const std::vector<int64_t> indices = {0, 1, 2, 3};
  const std::vector<int64_t> offsets = {0};
  EXPECT_THROW(bag.forward({indices, {2, 2}, offsets, std::nullopt, {}}), InvalidArgument);
  EXPECT_THROW(bag.forward({indices, {4}, std::nullopt, std::nullopt, {}}), InvalidArgument);
  EXPECT_THROW(bag.forward({indices, {1, 2, 2}, std::nullopt, std::nullopt, {}}), InvalidArgument);
  EXPECT_THROW(bag.forward({indices, {5}, offsets, std::nullopt, {}}), InvalidArgument);
}

TEST(Validation, IncludeLastOffsetNeedsAnOffset) {
  EmbeddingBag bag = bag_with(PoolingMode::sum, /*include_last_offset=*/true);
  const std::vector<int64_t> indices = {0};
  const std::vector<int64_t> offsets = {};
  EXPECT_THROW(bag.forward(input_of(indices, offsets)), InvalidArgument);
}

TEST(Validation, IncludeLastOffsetMustEndAtTheLastIndex) {
  EmbeddingBag bag = bag_with(PoolingMode::sum, /*include_last_offset=*/true);
  const std::vector<int64_t> indices = {0, 1, 2};
  const std::vector<int64_t> offsets = {0, 2};
  expect_refusal<InvalidArgument>(
      [&] { bag.forward(input_of(indices, offsets)); },
      "EmbeddingBag 'user_id': with include_last_offset the last offset must "
      "be the number of indices, 3, got 2");
}

TEST(Validation, MaxModeRefusesScaleGradByFreq) {
  EmbeddingBagOptions options;
  options.name = "user_id";
  options.num_embeddings = 5;
  options.embedding_dim = 2;
  options.mode = PoolingMode::max;
  options.scale_grad_by_freq = true;
  expect_refusal<InvalidArgument>(
      [&] { EmbeddingBag bag(options); },
      "EmbeddingBag 'user_id': max mode does not support scale_grad_by_freq");
}

TEST(Validation, PaddingIdxMustBeARow) {
  EmbeddingOptions options;
  options.name = "item";
  options.num_embeddings = 5;
  options.embedding_dim = 2;
  options.padding_idx = 5;
  expect_refusal<OutOfRange>([&] { Embedding embedding(options); },
                             "Embedding 'item': padding_idx 5 is out of range [-5, 5)");
  options.padding_idx = -6;
  EXPECT_THROW(Embedding embedding(options), OutOfRange);
}

TEST(Validation, StepChecksGradientSizeAndOptimizerShape) {
  EmbeddingBag bag = bag_with(PoolingMode::sum);
  const std::vector<int64_t> indices = {0, 1};
  const std::vector<int64_t> offsets = {0};
  const Lookup lookup = bag.forward(input_of(indices, offsets));
  const std::vector<float> weights_before = table_values(bag.weights());

  Sgd sgd(5, 2, {});
  expect_refusal<InvalidArgument>(
      [&] {
        bag.step(lookup, std::vector{1.0f, 2.0f, 3.0f}, sgd);
      },
      "EmbeddingBag 'user_id': grad_output has 3 elements, expected 2");
  Sgd wrong_shape(6, 2, {});
  expect_refusal<InvalidArgument>(
      [&] {
        bag.step(lookup, std::vector{1.0f, 2.0f}, wrong_shape);
      },
      "EmbeddingBag 'user_id': optimizer sgd was built for [6, 2] but the "
      "table is [5, 2]");
  EXPECT_EQ(table_values(bag.weights()), weights_before);
}

TEST(Validation, OptimizerOptionsMustBeSane) {
  EXPECT_THROW(Sgd(5, 2, {.lr = -1.0f}), InvalidArgument);
}

}  // namespace
}  // namespace rowshard
