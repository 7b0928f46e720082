// The collection against one EmbeddingBag per table: features that share a
// table are one concatenated lookup of that table, so every output, weight
// and optimizer state must agree bit for bit.
#include "rowshard/engine/embedding_bag_collection.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <set>

#include "engine/cuda/cuda_backend.h"
#include "rowshard/engine/error.h"
#include "tests/engine/error_of.h"
#include "tests/engine/random_batches.h"
#include "tests/engine/small_table.h"

namespace rowshard {
namespace {

CollectionTableConfig table_config(std::string name, int64_t rows, int64_t dim, PoolingMode mode,
                                   OptimizerKind optimizer,
                                   std::optional<int64_t> padding = std::nullopt) {
  CollectionTableConfig config;
  config.table.name = std::move(name);
  config.table.num_embeddings = rows;
  config.table.embedding_dim = dim;
  config.table.mode = mode;
  config.table.padding_idx = padding;
  config.table.seed = rows * 31 + dim;
  config.optimizer.kind = optimizer;
  config.optimizer.lr = 0.05f;
  return config;
}

struct JaggedBatch {
  int64_t batch_size;
  std::vector<int64_t> values, lengths;
  std::vector<float> weights;
  // Per feature, the offsets of its own bags into its own values.
  std::vector<std::vector<int64_t>> feature_offsets;
  std::vector<std::vector<int64_t>> feature_values;
  std::vector<std::vector<float>> feature_weights;
};

JaggedBatch random_jagged(std::mt19937_64& rng, int64_t batch_size,
                          const std::vector<int64_t>& rows_of_feature,
                          const std::vector<int64_t>& max_length) {
  JaggedBatch batch{batch_size, {}, {}, {}, {}, {}, {}};
  for (std::size_t f = 0; f < rows_of_feature.size(); ++f) {
    const testing::RandomBags bags =
        testing::random_bags(rng, batch_size, max_length[f], rows_of_feature[f]);
    batch.values.insert(batch.values.end(), bags.indices.begin(), bags.indices.end());
    batch.weights.insert(batch.weights.end(), bags.per_sample_weights.begin(),
                         bags.per_sample_weights.end());
    for (int64_t b = 0; b < batch_size; ++b) {
      const int64_t end =
          b + 1 < batch_size ? bags.offsets[b + 1] : static_cast<int64_t>(bags.indices.size());
      batch.lengths.push_back(end - bags.offsets[b]);
    }
    batch.feature_offsets.push_back(bags.offsets);
    batch.feature_values.push_back(bags.indices);
    batch.feature_weights.push_back(bags.per_sample_weights);
  }
  return batch;
}

class CollectionVersusTables : public ::testing::Test {
 protected:
  // Table "a" is shared by a weighted and an unweighted feature; "b" has
  // padding and an always-empty feature; "c" is max-pooled.
  std::vector<CollectionTableConfig> tables = {
      table_config("a", 60, 5, PoolingMode::sum, OptimizerKind::rowwise_adagrad),
      table_config("b", 40, 3, PoolingMode::mean, OptimizerKind::adagrad, 2),
      table_config("c", 30, 17, PoolingMode::max, OptimizerKind::sgd)};
  std::vector<FeatureConfig> features = {{"clicks", "a", true},
                                         {"user", "b", false},
                                         {"views", "a", false},
                                         {"shop", "c", false},
                                         {"never", "b", false}};
  std::vector<std::string> keys = {"clicks", "user", "views", "shop", "never"};
  std::vector<int64_t> rows_of_feature = {60, 40, 60, 30, 40};
  std::vector<int64_t> max_length = {12, 3, 20, 6, 0};
};

TEST_F(CollectionVersusTables, ForwardAndStepsMatchOneEmbeddingBagPerTable) {
  EmbeddingBagCollection collection(tables, features);
  // The reference: one trainable EmbeddingBag per table, same initial rows.
  std::vector<EmbeddingBag> singles;
  std::vector<std::unique_ptr<RowOptimizer>> optimizers;
  for (std::size_t t = 0; t < tables.size(); ++t) {
    const EmbeddingBag& table = collection.local_table(t);
    singles.push_back(EmbeddingBag::from_pretrained(
        RowStorage::copy_of(testing::table_values(table.weights()), table.num_embeddings(),
                            table.embedding_dim()),
        tables[t].table, /*freeze=*/false));
    optimizers.push_back(
        make_optimizer(tables[t].optimizer, table.num_embeddings(), table.embedding_dim()));
  }

  std::mt19937_64 rng(2024);
  for (int step = 0; step < 3; ++step) {
    const int64_t batch_size = 37;
    const JaggedBatch batch = random_jagged(rng, batch_size, rows_of_feature, max_length);
    const KeyedJaggedBatch keyed{keys, batch_size, batch.values, batch.lengths, {}, batch.weights};
    const Tensor no_grad = collection.forward_no_grad(keyed);
    const CollectionLookup lookup = collection.forward(keyed);
    ASSERT_EQ(lookup.output.shape, (Shape{batch_size, 5 + 3 + 5 + 17 + 3}));
    ASSERT_EQ(no_grad.shape, lookup.output.shape);
    ASSERT_THAT(no_grad.values, ::testing::ElementsAreArray(lookup.output.values));
    const std::vector<float> grad_output = testing::random_values(rng, lookup.output.values.size());

    for (std::size_t t = 0; t < tables.size(); ++t) {
      // Concatenate the bags of every feature of table t, in feature order.
      std::vector<int64_t> indices, offsets;
      std::vector<float> weights;
      std::vector<int64_t> features_of_table;
      for (std::size_t f = 0; f < features.size(); ++f) {
        if (features[f].table != tables[t].table.name) continue;
        features_of_table.push_back(f);
        for (int64_t o : batch.feature_offsets[f])
          offsets.push_back(o + static_cast<int64_t>(indices.size()));
        indices.insert(indices.end(), batch.feature_values[f].begin(),
                       batch.feature_values[f].end());
        if (features[f].weighted)
          weights.insert(weights.end(), batch.feature_weights[f].begin(),
                         batch.feature_weights[f].end());
        else
          weights.insert(weights.end(), batch.feature_values[f].size(), 1.0f);
      }
      BagInput input{indices, {static_cast<int64_t>(indices.size())}, offsets, std::nullopt, {}};
      if (tables[t].table.mode == PoolingMode::sum) input.per_sample_weights = weights;
      const Lookup single = singles[t].forward(input);

      const int64_t dim = tables[t].table.embedding_dim;
      std::vector<float> single_grad;
      for (std::size_t i = 0; i < features_of_table.size(); ++i) {
        const int64_t f = features_of_table[i];
        const FeatureView view = collection.feature_view(lookup.output, f);
        for (int64_t b = 0; b < batch_size; ++b) {
          const auto row = view.row(b);
          const float* expected = &single.output.values[(i * batch_size + b) * dim];
          ASSERT_TRUE(std::equal(row.begin(), row.end(), expected))
              << "feature " << f << " bag " << b << " step " << step;
          const float* g = &grad_output[b * collection.total_dim() + collection.column_offset(f)];
          single_grad.insert(single_grad.end(), g, g + dim);
        }
      }
      singles[t].step(single, single_grad, *optimizers[t]);
    }
    collection.step(lookup, grad_output);

    for (std::size_t t = 0; t < tables.size(); ++t) {
      EXPECT_EQ(testing::table_values(collection.local_table(t).weights()),
                testing::table_values(singles[t].weights()))
          << "table " << t << " step " << step;
      const auto state = collection.local_optimizer(t).state();
      const auto single_state = optimizers[t]->state();
      EXPECT_TRUE(std::equal(state.begin(), state.end(), single_state.begin(), single_state.end()))
          << "table " << t;
    }
  }
}

TEST_F(CollectionVersusTables, SparseGradientCoversEveryFeatureOfTheTable) {
  EmbeddingBagCollection collection(tables, features);
  std::mt19937_64 rng(8);
  const JaggedBatch batch = random_jagged(rng, 9, rows_of_feature, max_length);
  const CollectionLookup lookup =
      collection.forward({keys, 9, batch.values, batch.lengths, {}, batch.weights});
  const auto grad = testing::random_values(rng, lookup.output.values.size());
  const SparseGradient gradient = collection.sparse_gradient(lookup, grad, 0);
  std::set<int64_t> expected(batch.feature_values[0].begin(), batch.feature_values[0].end());
  expected.insert(batch.feature_values[2].begin(), batch.feature_values[2].end());
  EXPECT_EQ(gradient.rows, std::vector<int64_t>(expected.begin(), expected.end()));
}

TEST_F(CollectionVersusTables, OffsetsAndLengthsAreTheSameBatch) {
  EmbeddingBagCollection collection(tables, features);
  std::mt19937_64 rng(3);
  const JaggedBatch batch = random_jagged(rng, 11, rows_of_feature, max_length);
  std::vector<int64_t> offsets = {0};
  for (int64_t length : batch.lengths) offsets.push_back(offsets.back() + length);
  const auto by_lengths =
      collection.forward({keys, 11, batch.values, batch.lengths, {}, batch.weights});
  const auto by_offsets = collection.forward({keys, 11, batch.values, {}, offsets, batch.weights});
  EXPECT_EQ(by_lengths.output.values, by_offsets.output.values);
}

TEST_F(CollectionVersusTables, BadIdNamesFeatureAndTableAndWritesNothing) {
  tables[2].table.max_norm = 0.1;  // a forward that would write table c
  EmbeddingBagCollection collection(tables, features);
  const std::vector<float> before = testing::table_values(collection.local_table(2).weights());
  // One example; "shop" (table c, 30 rows) gets ids {1, 30}.
  const std::vector<int64_t> values = {0, 1, 5, 1, 30};
  const std::vector<int64_t> lengths = {1, 1, 1, 2, 0};
  const std::vector<float> weights(5, 1.0f);
  const KeyedJaggedBatch batch{keys, 1, values, lengths, {}, weights};
  for (const bool no_grad : {false, true}) {
    try {
      if (no_grad)
        collection.forward_no_grad(batch);
      else
        collection.forward(batch);
      FAIL() << "accepted an id past the table, no_grad " << no_grad;
    } catch (const OutOfRange& error) {
      EXPECT_EQ(std::string(error.what()),
                "EmbeddingBagCollection feature 'shop' (table 'c'): index 30 at "
                "position 1 is out of range [0, 30)");
    }
    EXPECT_EQ(testing::table_values(collection.local_table(2).weights()), before);
  }
}

TEST_F(CollectionVersusTables, NoGradForwardRenormalizesAsForwardDoes) {
  tables[0].table.max_norm = 0.5;
  EmbeddingBagCollection with_grad(tables, features), without_grad(tables, features);
  std::mt19937_64 rng(5);
  const JaggedBatch batch = random_jagged(rng, 13, rows_of_feature, max_length);
  const KeyedJaggedBatch keyed{keys, 13, batch.values, batch.lengths, {}, batch.weights};
  const CollectionLookup lookup = with_grad.forward(keyed);
  const Tensor output = without_grad.forward_no_grad(keyed);
  EXPECT_THAT(output.values, ::testing::ElementsAreArray(lookup.output.values));
  const std::vector<float> renormalized = testing::table_values(with_grad.local_table(0).weights());
  EXPECT_EQ(testing::table_values(without_grad.local_table(0).weights()), renormalized);
  EmbeddingBagCollection untouched(tables, features);
  EXPECT_NE(testing::table_values(untouched.local_table(0).weights()), renormalized);
}

// A large batch is checked in parallel; the error must still name the first
// offender of the first bad feature.
TEST(CollectionBadIds, LargeBatchNamesFeatureAndFirstPosition) {
  const std::vector<CollectionTableConfig> tables = {
      table_config("small", 50, 8, PoolingMode::sum, OptimizerKind::rowwise_adagrad),
      table_config("large", 1000, 8, PoolingMode::mean, OptimizerKind::sgd)};
  EmbeddingBagCollection collection(tables,
                                    {{"first", "small", false}, {"second", "large", false}});
  const int64_t batch_size = 4000;  // 80,000 ids a feature: enough to be split over threads
  std::vector<int64_t> values;
  for (int64_t f = 0; f < 2; ++f)
    for (int64_t i = 0; i < batch_size * 20; ++i) values.push_back(i % (f == 0 ? 50 : 1000));
  const std::vector<int64_t> lengths(2 * batch_size, 20);
  const std::vector<std::string> keys = {"first", "second"};
  // Both forwards give the same message (forward_no_grad checks inside the
  // pooling kernels).
  const auto message_for = [&](std::vector<int64_t> bad_values) {
    std::string messages[2];
    for (const bool no_grad : {false, true}) {
      const KeyedJaggedBatch batch{keys, batch_size, bad_values, lengths, {}, std::nullopt};
      try {
        if (no_grad)
          collection.forward_no_grad(batch);
        else
          collection.forward(batch);
        messages[no_grad] = "no error";
      } catch (const OutOfRange& error) {
        messages[no_grad] = error.what();
      }
    }
    EXPECT_EQ(messages[0], messages[1]);
    return messages[0];
  };
  std::vector<int64_t> bad = values;
  bad[batch_size * 20 + 70001] = 1000;  // "second", late in the batch
  bad[batch_size * 20 + 79998] = -3;
  EXPECT_EQ(message_for(bad),
            "EmbeddingBagCollection feature 'second' (table 'large'): index 1000 at "
            "position 70001 is out of range [0, 1000)");
  bad[12345] = 50;  // now "first" has one too, and it is reported
  EXPECT_EQ(message_for(bad),
            "EmbeddingBagCollection feature 'first' (table 'small'): index 50 at "
            "position 12345 is out of range [0, 50)");
  EXPECT_EQ(message_for(values), "no error");
}

TEST_F(CollectionVersusTables, MalformedBatchesAreRefused) {
  EmbeddingBagCollection collection(tables, features);
  const std::vector<int64_t> values = {0, 1, 5, 1};
  const std::vector<int64_t> short_lengths = {1, 1, 1, 1};
  const std::vector<int64_t> lengths = {1, 1, 1, 1, 1};
  const std::vector<float> weights(4, 1.0f);
  EXPECT_THROW(collection.forward({keys, 1, values, short_lengths, {}, weights}), InvalidArgument);
  EXPECT_THROW(collection.forward({keys, 1, values, lengths, {}, weights}), OutOfRange);
  EXPECT_THROW(collection.forward({keys, 1, values, {}, {}, weights}), InvalidArgument);
  const std::vector<int64_t> four = {1, 1, 1, 1, 0};
  EXPECT_THROW(collection.forward({keys, 1, values, four, {}, std::nullopt}),
               InvalidArgument);  // "clicks" is weighted
}

TEST_F(CollectionVersusTables, BatchesWhoseKeysDifferAreRefusedNamingTheFeature) {
  EmbeddingBagCollection collection(tables, features);
  std::mt19937_64 rng(12);
  const JaggedBatch batch = random_jagged(rng, 4, rows_of_feature, max_length);
  const std::vector<float> before = testing::table_values(collection.local_table(0).weights());
  const auto error_for = [&](const std::vector<std::string>& batch_keys) {
    try {
      collection.forward({batch_keys, 4, batch.values, batch.lengths, {}, batch.weights});
      return std::string("no error");
    } catch (const InvalidArgument& error) {
      return std::string(error.what());
    }
  };
  EXPECT_EQ(error_for({"user", "clicks", "views", "shop", "never"}),
            "EmbeddingBagCollection: the batch's feature 0 is 'user' but feature 0 is "
            "'clicks'; keys must list the features 'clicks', 'user', 'views', 'shop', "
            "'never' in this order");
  EXPECT_EQ(error_for({}),
            "EmbeddingBagCollection: the batch has 0 keys, but the features are 'clicks', "
            "'user', 'views', 'shop', 'never' (keys name the batch's features, in this order)");
  EXPECT_NE(error_for({"clicks", "user", "views", "shop"}).find("the batch has 4 keys"),
            std::string::npos);
  EXPECT_EQ(testing::table_values(collection.local_table(0).weights()), before);
}

TEST_F(CollectionVersusTables, OutputIsReadByFeatureName) {
  EmbeddingBagCollection collection(tables, features);
  std::mt19937_64 rng(13);
  const JaggedBatch batch = random_jagged(rng, 6, rows_of_feature, max_length);
  const Tensor output =
      collection.forward_no_grad({keys, 6, batch.values, batch.lengths, {}, batch.weights});
  for (int64_t f = 0; f < collection.num_features(); ++f) {
    const FeatureView by_name = collection.feature_view(output, keys[f]);
    const FeatureView by_position = collection.feature_view(output, f);
    EXPECT_EQ(by_name.data, by_position.data) << keys[f];
    EXPECT_EQ(by_name.dim, by_position.dim) << keys[f];
  }
  EXPECT_EQ(collection.feature_view(output, "shop").dim, 17);
  EXPECT_THROW(collection.feature_view(output, "shops"), InvalidArgument);
}

TEST_F(CollectionVersusTables, StepRefusesALookupOfAnotherCollection) {
  EmbeddingBagCollection collection(tables, features), other(tables, features);
  std::mt19937_64 rng(14);
  const JaggedBatch batch = random_jagged(rng, 3, rows_of_feature, max_length);
  const KeyedJaggedBatch input{keys, 3, batch.values, batch.lengths, {}, batch.weights};
  const CollectionLookup foreign = other.forward(input);
  const std::vector<float> grad(foreign.output.values.size(), 1.0f);
  const std::vector<float> before = testing::table_values(collection.local_table(0).weights());
  EXPECT_THAT(error_of([&] { collection.step(foreign, grad); }),
              ::testing::HasSubstr("this lookup was not made by this collection's forward()"));
  EXPECT_THAT(error_of([&] { collection.step(CollectionLookup{}, grad); }),
              ::testing::HasSubstr("this lookup was not made by this collection's forward()"));
  EXPECT_THROW(collection.sparse_gradient(foreign, grad, 0), InvalidArgument);
  EXPECT_EQ(testing::table_values(collection.local_table(0).weights()), before);
}

// A trainer written against EmbeddingCollection: one step, then the state
// it can read (read-only) through the interface.
std::vector<float> step_once_through_the_interface(EmbeddingCollection& collection,
                                                   const KeyedJaggedBatch& batch) {
  const CollectionLookup lookup = collection.forward(batch);
  const std::vector<float> grad(lookup.output.values.size(), 0.25f);
  collection.step(lookup, grad);
  std::vector<float> state;
  for (int64_t t = 0; t < collection.num_tables(); ++t) {
    EXPECT_EQ(collection.layout(t).global_row(collection.rank(), 0), 0);
    const std::vector<float> weights = testing::table_values(collection.local_table(t).weights());
    state.insert(state.end(), weights.begin(), weights.end());
    const std::span<const float> optimizer = collection.local_optimizer(t).state();
    state.insert(state.end(), optimizer.begin(), optimizer.end());
  }
  return state;
}

TEST_F(CollectionVersusTables, TheInterfaceStepsAsTheConcreteCollectionDoes) {
  EmbeddingBagCollection through_interface(tables, features), direct(tables, features);
  std::mt19937_64 rng(15);
  const JaggedBatch batch = random_jagged(rng, 5, rows_of_feature, max_length);
  const KeyedJaggedBatch input{keys, 5, batch.values, batch.lengths, {}, batch.weights};
  const std::vector<float> got = step_once_through_the_interface(through_interface, input);
  const CollectionLookup lookup = direct.forward(input);
  direct.step(lookup, std::vector<float>(lookup.output.values.size(), 0.25f));
  std::vector<float> expected;
  for (int64_t t = 0; t < direct.num_tables(); ++t) {
    const std::vector<float> weights = testing::table_values(direct.local_table(t).weights());
    expected.insert(expected.end(), weights.begin(), weights.end());
    const std::span<const float> optimizer = direct.local_optimizer(t).state();
    expected.insert(expected.end(), optimizer.begin(), optimizer.end());
  }
  EXPECT_EQ(got, expected);
}

// Without CUDA built, or with CUDA built and no device answering (this
// suite's machine: no driver, error 35), a cuda table is refused with the
// reason.
TEST(CollectionConfig, RefusesACudaTableWithTheReasonNoDeviceAnswers) {
  CollectionTableConfig config = table_config("a", 10, 4, PoolingMode::sum, OptimizerKind::sgd);
  config.table.device = Device::cuda;
  const std::string reason = cuda::unavailable_reason();
  if (reason.empty()) GTEST_SKIP() << "a CUDA device answers";
  EXPECT_THAT(error_of([&] {
                EmbeddingBagCollection({config}, {{"f", "a", false}});
              }),
              ::testing::HasSubstr("EmbeddingBagCollection: device cuda: " + reason));
  EXPECT_THAT(error_of([&] { EmbeddingBag bag(config.table); }),
              ::testing::HasSubstr("EmbeddingBag 'a': device cuda: " + reason));
  if (!cuda::is_built()) {
    EXPECT_THAT(reason, ::testing::HasSubstr("this build of rowshard has no backend for it"));
  }
}

TEST(CollectionConfig, RefusesIncludeLastOffsetRatherThanIgnoringIt) {
  CollectionTableConfig config = table_config("a", 10, 4, PoolingMode::sum, OptimizerKind::sgd);
  config.table.include_last_offset = true;
  try {
    EmbeddingBagCollection collection({config}, {{"f", "a", false}});
    FAIL() << "include_last_offset was accepted and would be ignored";
  } catch (const InvalidArgument& error) {
    EXPECT_THAT(error.what(), ::testing::HasSubstr("table 'a' sets include_last_offset"));
  }
}

TEST(CollectionConfig, RefusesInconsistentConfigs) {
  auto table = table_config("a", 10, 4, PoolingMode::mean, OptimizerKind::sgd);
  EXPECT_THROW(EmbeddingBagCollection({table, table}, {}), InvalidArgument);
  EXPECT_THROW(EmbeddingBagCollection({table}, {{"f", "nope", false}}), InvalidArgument);
  EXPECT_THROW(EmbeddingBagCollection({table}, {{"f", "a", true}}), InvalidArgument);
}

}  // namespace
}  // namespace rowshard
