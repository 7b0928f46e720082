// Same seed, same bits, whatever the thread count.
#include <gtest/gtest.h>
#include <omp.h>

#include "rowshard/engine/embedding_bag.h"
#include "rowshard/engine/embedding_bag_collection.h"
#include "rowshard/engine/optimizers/adagrad.h"
#include "rowshard/engine/optimizers/rowwise_adagrad.h"
#include "rowshard/engine/optimizers/sgd.h"
#include "tests/engine/random_batches.h"
#include "tests/engine/small_table.h"

namespace rowshard {
namespace {

const std::vector<std::string> kKeys = {"a", "b", "c"};

struct TrainingResult {
  std::vector<float> first_output;
  std::vector<float> weights;
  std::vector<float> state;
};

// Builds a seeded table and trains it for a few steps on skewed random bags
// (hot rows repeat across many bags, which is where a racy reduction shows).
TrainingResult train(int threads, PoolingMode mode, const std::string& optimizer_name) {
  omp_set_num_threads(threads);
  EmbeddingBagOptions options;
  options.name = "determinism";
  options.num_embeddings = 3000;
  options.embedding_dim = 19;
  options.mode = mode;
  options.padding_idx = 3;
  options.seed = 1234;
  EmbeddingBag bag(options);

  std::unique_ptr<RowOptimizer> optimizer;
  if (optimizer_name == "sgd")
    optimizer = std::make_unique<Sgd>(3000, 19, SgdOptions{.lr = 0.1f});
  else if (optimizer_name == "adagrad")
    optimizer = std::make_unique<Adagrad>(3000, 19, AdagradOptions{.lr = 0.1f});
  else
    optimizer = std::make_unique<RowWiseAdagrad>(
        3000, 19, RowWiseAdagradOptions{.lr = 0.1f, .weight_decay = 0.01f});

  std::mt19937_64 rng(99);
  TrainingResult result;
  for (int step = 0; step < 4; ++step) {
    testing::RandomBags bags = testing::random_bags(rng, 700, 60, 3000);
    for (int64_t& id : bags.indices) id = id % (1 + id % 97);  // skew to low ids
    BagInput input{
        bags.indices, {static_cast<int64_t>(bags.indices.size())}, bags.offsets, std::nullopt, {}};
    if (mode == PoolingMode::sum) input.per_sample_weights = bags.per_sample_weights;
    const Lookup lookup = bag.forward(input);
    if (step == 0)
      result.first_output.assign(lookup.output.values.begin(), lookup.output.values.end());
    const auto grad = testing::random_values(rng, lookup.output.values.size());
    bag.step(lookup, grad, *optimizer);
  }
  result.weights = testing::table_values(bag.weights());
  result.state.assign(optimizer->state().begin(), optimizer->state().end());
  omp_set_num_threads(omp_get_num_procs());
  return result;
}

class ThreadCount : public ::testing::TestWithParam<std::tuple<PoolingMode, std::string>> {};

TEST_P(ThreadCount, OneAndTwoThreadsGiveIdenticalBits) {
  const auto [mode, optimizer] = GetParam();
  const TrainingResult one = train(1, mode, optimizer);
  const TrainingResult two = train(2, mode, optimizer);
  EXPECT_EQ(one.first_output, two.first_output);
  EXPECT_EQ(one.weights, two.weights);
  EXPECT_EQ(one.state, two.state);
  // And a repeated run is identical too.
  EXPECT_EQ(two.weights, train(2, mode, optimizer).weights);
}

INSTANTIATE_TEST_SUITE_P(ModesAndOptimizers, ThreadCount,
                         ::testing::Combine(::testing::Values(PoolingMode::sum, PoolingMode::mean,
                                                              PoolingMode::max),
                                            ::testing::Values("sgd", "adagrad", "rowwise_adagrad")),
                         [](const auto& info) {
                           return std::string(pooling_mode_name(std::get<0>(info.param))) + "_" +
                                  std::get<1>(info.param);
                         });

// A collection of f32 / bf16-with-stochastic-rounding tables, one shared by
// two features, trained a few steps.
std::vector<std::vector<float>> train_collection(int threads) {
  omp_set_num_threads(threads);
  std::vector<CollectionTableConfig> tables(2);
  tables[0].table.name = "shared";
  tables[0].table.num_embeddings = 2000;
  tables[0].table.embedding_dim = 24;
  tables[0].table.mode = PoolingMode::sum;
  tables[1].table.name = "half";
  tables[1].table.num_embeddings = 500;
  tables[1].table.embedding_dim = 33;
  tables[1].table.dtype = DType::bf16;
  tables[1].table.stochastic_rounding = true;
  EmbeddingBagCollection collection(
      tables, {{"a", "shared", true}, {"b", "half", false}, {"c", "shared", false}});

  std::mt19937_64 rng(5);
  for (int step = 0; step < 3; ++step) {
    std::vector<int64_t> values, lengths;
    for (int64_t rows : {2000, 500, 2000}) {
      const testing::RandomBags bags = testing::random_bags(rng, 300, 50, rows);
      values.insert(values.end(), bags.indices.begin(), bags.indices.end());
      for (int64_t b = 0; b < 300; ++b)
        lengths.push_back(
            (b + 1 < 300 ? bags.offsets[b + 1] : static_cast<int64_t>(bags.indices.size())) -
            bags.offsets[b]);
    }
    const std::vector<float> weights = testing::random_values(rng, values.size());
    const CollectionLookup lookup = collection.forward({kKeys, 300, values, lengths, {}, weights});
    collection.step(lookup, testing::random_values(rng, lookup.output.values.size()));
  }
  std::vector<std::vector<float>> result;
  result.push_back(testing::table_values(collection.local_table(0).weights()));
  const RowStorage& half = collection.local_table(1).weights();
  const auto* bits = half.row<uint16_t>(0);
  result.emplace_back(bits, bits + half.num_rows() * half.dim());
  for (int t = 0; t < 2; ++t) {
    const auto state = collection.local_optimizer(t).state();
    result.emplace_back(state.begin(), state.end());
  }
  omp_set_num_threads(omp_get_num_procs());
  return result;
}

TEST(CollectionThreadCount, OneAndTwoThreadsGiveIdenticalBits) {
  EXPECT_EQ(train_collection(1), train_collection(2));
}

}  // namespace
}  // namespace rowshard
