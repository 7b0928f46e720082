// Each optimizer's update against its formula, evaluated independently in
// double precision, and the fused step against "reference gradient, then the
// formula on each touched row".
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <memory>
#include <set>
#include <string>

#include "engine/reference/pooling.h"
#include "rowshard/engine/embedding_bag.h"
#include "rowshard/engine/optimizers/adagrad.h"
#include "rowshard/engine/optimizers/rowwise_adagrad.h"
#include "rowshard/engine/optimizers/sgd.h"
#include "tests/engine/random_batches.h"
#include "tests/engine/small_table.h"

namespace rowshard {
namespace {

constexpr double kRelative = 1e-5;

void expect_close(const std::vector<double>& expected, std::span<const float> got,
                  const char* what) {
  ASSERT_EQ(expected.size(), got.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], expected[i], 1e-6 + kRelative * std::fabs(expected[i]))
        << what << " at " << i;
}

TEST(Sgd, MatchesTheFormula) {
  Sgd sgd(1, 3, {.lr = 0.5f, .weight_decay = 0.1f});
  std::vector<float> w = {1.0f, -2.0f, 3.0f};
  const std::vector<float> g = {0.5f, 0.25f, -1.0f};
  sgd.update_row(0, w, g);
  std::vector<double> expected;
  const double initial[3] = {1.0, -2.0, 3.0};
  for (int d = 0; d < 3; ++d) expected.push_back(initial[d] - 0.5 * (g[d] + 0.1 * initial[d]));
  expect_close(expected, w, "weights");
}

TEST(Adagrad, MatchesTorchOptimAdagradOverSteps) {
  Adagrad adagrad(2, 2, {.lr = 0.1f, .eps = 1e-10f, .initial_accumulator_value = 0.2f});
  std::vector<float> w = {1.0f, -1.0f};
  std::vector<double> w_expected = {1.0, -1.0};
  std::vector<double> sums = {0.2, 0.2};
  const std::vector<float> gradients[2] = {{0.3f, -0.6f}, {-0.1f, 0.9f}};
  for (const auto& g : gradients) {
    adagrad.update_row(1, w, g);
    for (int d = 0; d < 2; ++d) {
      sums[d] += static_cast<double>(g[d]) * g[d];
      w_expected[d] -= 0.1 * g[d] / (std::sqrt(sums[d]) + 1e-10);
    }
  }
  expect_close(w_expected, w, "weights");
  expect_close({0.2, 0.2, sums[0], sums[1]}, adagrad.state(), "state");
}

TEST(RowWiseAdagrad, MatchesTheDesignFormulaWithWeightDecay) {
  RowWiseAdagrad adagrad(3, 4, {.lr = 0.05f, .eps = 1e-8f, .weight_decay = 0.2f});
  std::vector<float> w = {0.5f, -1.5f, 2.0f, 0.0f};
  std::vector<double> w_expected(w.begin(), w.end());
  double accumulator = 0.0;
  const std::vector<float> gradients[3] = {
      {0.1f, 0.2f, -0.3f, 0.4f}, {1.0f, 0.0f, 0.0f, -1.0f}, {0.0f, 0.0f, 0.0f, 0.0f}};
  for (const auto& g : gradients) {
    adagrad.update_row(2, w, g);
    std::vector<double> decayed(4);
    double mean_square = 0.0;
    for (int d = 0; d < 4; ++d) {
      decayed[d] = g[d] + 0.2 * w_expected[d];
      mean_square += decayed[d] * decayed[d] / 4.0;
    }
    accumulator += mean_square;
    for (int d = 0; d < 4; ++d)
      w_expected[d] -= 0.05 * decayed[d] / (std::sqrt(accumulator) + 1e-8);
  }
  expect_close(w_expected, w, "weights");
  expect_close({0.0, 0.0, accumulator}, adagrad.state(), "state");
}

// The block kernels for the common dims (vectorised by hand) against the
// any-dim row update, which the test above checks against the formula: the
// same operations in the same order, so the same bits.
TEST(RowWiseAdagrad, FixedDimBlockKernelsEqualTheAnyDimRowUpdate) {
  std::mt19937_64 rng(29);
  // 35 rows, spaced unevenly: more than the block kernels prefetch ahead
  // (8 rows, and 32 for rows of 256 bytes and more).
  std::vector<int64_t> rows;
  for (int64_t row = 8; rows.size() < 35; row += 1 + row % 3) rows.push_back(row);
  const int64_t first_row = 8, num_rows = rows.back() + 5;
  for (const int64_t dim : {64, 128}) {
    for (const float decay : {0.0f, 0.1f}) {
      const RowWiseAdagradOptions options{.lr = 0.2f, .weight_decay = decay};
      RowWiseAdagrad block(num_rows, dim, options);
      RowWiseAdagrad one_row(num_rows, dim, options);
      std::vector<float> block_weights = testing::random_values(rng, num_rows * dim);
      std::vector<float> row_weights = block_weights;
      for (int step = 0; step < 3; ++step) {
        // Gradients laid out from first_row, as the fused backward hands them.
        const std::vector<float> gradients =
            testing::random_values(rng, (rows.back() - first_row + 1) * dim);
        block.update_rows(rows, block_weights.data() + first_row * dim, gradients.data(),
                          first_row);
        for (const int64_t row : rows)
          one_row.update_row(
              row, {row_weights.data() + row * dim, static_cast<std::size_t>(dim)},
              {gradients.data() + (row - first_row) * dim, static_cast<std::size_t>(dim)});
      }
      ASSERT_THAT(block_weights, ::testing::ElementsAreArray(row_weights))
          << "dim " << dim << " decay " << decay;
      ASSERT_THAT(block.state(), ::testing::ElementsAreArray(one_row.state()))
          << "dim " << dim << " decay " << decay;
    }
  }
}

TEST(FusedStep, EqualsReferenceGradientThenFormulaOnTouchedRows) {
  std::mt19937_64 rng(17);
  const int64_t rows = 200, dim = 9;
  const testing::RandomBags bags = testing::random_bags(rng, 50, 30, rows);
  RowStorage initial = testing::random_weights(rng, rows, dim);
  const std::vector<float> initial_values = testing::table_values(initial);
  EmbeddingBagOptions options;
  options.mode = PoolingMode::mean;
  options.padding_idx = 5;
  EmbeddingBag bag = EmbeddingBag::from_pretrained(std::move(initial), options, false);
  const Lookup lookup = bag.forward(
      {bags.indices, {static_cast<int64_t>(bags.indices.size())}, bags.offsets, std::nullopt, {}});
  const auto grad_output = testing::random_values(rng, lookup.output.values.size());
  std::vector<float> gradient(rows * dim);
  reference::dense_gradient(lookup.saved.batch(5), {}, grad_output, rows, dim, false, gradient);

  RowWiseAdagrad adagrad(rows, dim, {.lr = 0.3f});
  bag.step(lookup, grad_output, adagrad);

  const std::set<int64_t> touched(bags.indices.begin(), bags.indices.end());
  std::vector<double> expected(initial_values.begin(), initial_values.end());
  std::vector<double> expected_state(rows, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    if (!touched.count(r) || r == 5) continue;
    double mean_square = 0.0;
    for (int64_t d = 0; d < dim; ++d)
      mean_square += static_cast<double>(gradient[r * dim + d]) * gradient[r * dim + d] / dim;
    expected_state[r] = mean_square;
    for (int64_t d = 0; d < dim; ++d)
      expected[r * dim + d] -= 0.3 * gradient[r * dim + d] / (std::sqrt(mean_square) + 1e-8);
  }
  expect_close(expected, testing::table_values(bag.weights()), "weights");
  expect_close(expected_state, adagrad.state(), "state");
}

// The sum-pooled step of an fp32 table sums each row's upstream rows in the
// optimizer's own pass (update_summed_rows): bit for bit the reference
// gradient, then the optimizer's update_row, for the fixed-dim kernels and
// any dim, each optimizer, repeated and hot rows, padding, and more chunks
// of rows than threads, at 1 and 2 threads.
TEST(FusedStep, PlainSumsEqualReferenceGradientThenUpdateRowBitForBit) {
  for (const int64_t dim : {7, 64, 128}) {
    for (const std::string name : {"rowwise_adagrad", "sgd"}) {
      for (const int threads : {1, 2}) {
        omp_set_num_threads(threads);
        std::mt19937_64 rng(41);
        const int64_t rows = 9000, padding = 3;
        testing::RandomBags bags = testing::random_bags(rng, 400, 60, rows);
        for (int64_t& id : bags.indices) id = id % (1 + id % 700);  // hot low ids
        RowStorage initial = testing::random_weights(rng, rows, dim);
        std::vector<float> expected = testing::table_values(initial);
        EmbeddingBagOptions options;
        options.mode = PoolingMode::sum;
        options.padding_idx = padding;
        EmbeddingBag bag = EmbeddingBag::from_pretrained(std::move(initial), options, false);
        auto make_optimizer = [&]() -> std::unique_ptr<RowOptimizer> {
          if (name == "sgd") return std::make_unique<Sgd>(rows, dim, SgdOptions{.lr = 0.3f});
          return std::make_unique<RowWiseAdagrad>(
              rows, dim, RowWiseAdagradOptions{.lr = 0.3f, .weight_decay = 0.01f});
        };
        const std::unique_ptr<RowOptimizer> fused = make_optimizer();
        const std::unique_ptr<RowOptimizer> by_row = make_optimizer();
        for (int step = 0; step < 2; ++step) {
          const Lookup lookup = bag.forward({bags.indices,
                                             {static_cast<int64_t>(bags.indices.size())},
                                             bags.offsets,
                                             std::nullopt,
                                             {}});
          const auto grad_output = testing::random_values(rng, lookup.output.values.size());
          std::vector<float> gradient(rows * dim);
          reference::dense_gradient(lookup.saved.batch(padding), {}, grad_output, rows, dim, false,
                                    gradient);
          bag.step(lookup, grad_output, *fused);
          const std::set<int64_t> touched(bags.indices.begin(), bags.indices.end());
          for (const int64_t row : touched) {
            if (row == padding) continue;
            by_row->update_row(row, {expected.data() + row * dim, static_cast<std::size_t>(dim)},
                               {gradient.data() + row * dim, static_cast<std::size_t>(dim)});
          }
        }
        omp_set_num_threads(omp_get_num_procs());
        const std::string what =
            name + " dim " + std::to_string(dim) + " threads " + std::to_string(threads);
        ASSERT_THAT(testing::table_values(bag.weights()), ::testing::ElementsAreArray(expected))
            << what;
        ASSERT_THAT(fused->state(), ::testing::ElementsAreArray(by_row->state())) << what;
      }
    }
  }
}

}  // namespace
}  // namespace rowshard
