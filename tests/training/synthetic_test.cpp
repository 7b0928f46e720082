#include "training/data/synthetic.h"

#include <gtest/gtest.h>
#include <omp.h>

#include "rowshard/engine/error.h"

namespace rowshard {
namespace {

SyntheticOptions options(int rank, int ranks) {
  SyntheticOptions o;
  o.seed = 4;
  o.num_dense = 3;
  o.rows_per_feature = {1000, 50};
  o.global_batch_size = 10;
  o.rank = rank;
  o.world_size = ranks;
  return o;
}

TEST(Synthetic, RanksSplitTheSameGlobalBatches) {
  SyntheticSource whole(options(0, 1));
  SyntheticSource first(options(0, 3)), second(options(1, 3)), third(options(2, 3));
  for (int step = 0; step < 3; ++step) {
    const ExampleBatch all = *whole.next();
    std::vector<float> labels, dense;
    for (SyntheticSource* part : {&first, &second, &third}) {
      const ExampleBatch batch = *part->next();
      labels.insert(labels.end(), batch.labels.begin(), batch.labels.end());
      dense.insert(dense.end(), batch.dense.begin(), batch.dense.end());
    }
    EXPECT_EQ(labels, all.labels);
    EXPECT_EQ(dense, all.dense);
  }
}

TEST(Synthetic, SeekResumesTheStream) {
  SyntheticSource source(options(0, 1));
  source.next();
  const std::string position = source.position();
  const ExampleBatch expected = *source.next();
  SyntheticSource again(options(0, 1));
  again.seek(position);
  const ExampleBatch got = *again.next();
  EXPECT_EQ(got.sparse_values, expected.sparse_values);
  EXPECT_EQ(got.labels, expected.labels);
  EXPECT_THROW(again.seek("soon"), InvalidArgument);
}

// The trainer skips its end-of-data agreement for a source that says so.
TEST(Synthetic, NeverEnds) {
  SyntheticSource source(options(0, 1));
  EXPECT_TRUE(source.endless());
  source.seek("1000000000");
  EXPECT_TRUE(source.next().has_value());
}

TEST(Synthetic, IdsAreSkewedAndInRange) {
  SyntheticOptions o = options(0, 1);
  o.global_batch_size = 20000;
  const ExampleBatch batch = *SyntheticSource(o).next();
  int64_t low = 0;
  for (int64_t i = 0; i < 20000; ++i) {
    const int64_t id = batch.sparse_values[i];  // feature 0
    ASSERT_GE(id, 0);
    ASSERT_LT(id, 1000);
    low += id < 10;
  }
  EXPECT_GT(low, 20000 / 10) << "the first 1% of ids should be far more than 1% of lookups";
  EXPECT_EQ(batch.sparse_lengths, std::vector<int64_t>(40000, 1));
}

TEST(Synthetic, HeldOutCarriesThePlantedProbabilities) {
  const HeldOut held_out = synthetic_held_out(options(0, 1), 500);
  ASSERT_EQ(held_out.planted_probability.size(), 500u);
  double mean_label = 0, mean_probability = 0;
  for (int i = 0; i < 500; ++i) {
    mean_label += held_out.batch.labels[i] / 500;
    mean_probability += held_out.planted_probability[i] / 500;
  }
  EXPECT_NEAR(mean_label, mean_probability, 0.06);  // labels are drawn from them
}

// Batches are made on the OpenMP threads; each example must land in its
// place as PlantedClicks makes it, whatever the thread count.
TEST(Synthetic, BatchesAreTheSameExamplesWhateverTheThreadCount) {
  SyntheticOptions o = options(1, 3);
  o.global_batch_size = 3000;
  const PlantedClicks clicks(o);
  const int threads = omp_get_max_threads();
  for (int thread_count : {1, 2, 3}) {
    omp_set_num_threads(thread_count);
    SyntheticSource source(o);
    source.next();
    const ExampleBatch batch = *source.next();             // global examples [4000, 5000)
    const HeldOut held_out = synthetic_held_out(o, 3000);  // [1000, 2000) of stream 1
    ASSERT_EQ(batch.size, 1000);
    ASSERT_EQ(held_out.batch.size, 1000);
    for (int64_t b = 0; b < 1000; ++b) {
      const SyntheticExample train = clicks.example(0, 4000 + b);
      const SyntheticExample eval = clicks.example(1, 1000 + b);
      ASSERT_EQ(batch.labels[b], train.label) << thread_count << " threads, example " << b;
      ASSERT_EQ(std::vector<float>(batch.dense.begin() + 3 * b, batch.dense.begin() + 3 * b + 3),
                train.dense)
          << thread_count << " threads, example " << b;
      for (int64_t f = 0; f < 2; ++f)
        ASSERT_EQ(batch.sparse_values[f * 1000 + b], train.ids[f]) << thread_count << " threads";
      ASSERT_EQ(held_out.batch.labels[b], eval.label) << thread_count << " threads";
      ASSERT_EQ(held_out.planted_probability[b], eval.planted_probability)
          << thread_count << " threads";
    }
  }
  omp_set_num_threads(threads);
}

}  // namespace
}  // namespace rowshard
