// fp16 / bf16 storage: rounding, kernels against the reference, error
// bounds against fp32, and stochastic rounding of updates.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <string>

#include "engine/counter_hash.h"
#include "engine/cpu/narrow.h"
#include "engine/reference/pooling.h"
#include "rowshard/engine/element_types.h"
#include "rowshard/engine/embedding_bag.h"
#include "rowshard/engine/optimizers/rowwise_adagrad.h"
#include "rowshard/engine/optimizers/sgd.h"
#include "tests/engine/random_batches.h"

namespace rowshard {
namespace {

TEST(Rounding, NearestEvenBreaksTiesToTheEvenNeighbour) {
  // Halfway cases: 1 + 2^-11 lies between 1 and 1 + 2^-10 in fp16.
  EXPECT_EQ(to_float(from_float<Float16>(1.0f + 0x1p-11f)), 1.0f);
  EXPECT_EQ(to_float(from_float<Float16>(1.0f + 3 * 0x1p-11f)), 1.0f + 0x1p-9f);
  // bf16 keeps 7 mantissa bits: 1 + 2^-8 is halfway between 1 and 1 + 2^-7.
  EXPECT_EQ(to_float(from_float<BFloat16>(1.0f + 0x1p-8f)), 1.0f);
  EXPECT_EQ(to_float(from_float<BFloat16>(1.0f + 3 * 0x1p-8f)), 1.0f + 0x1p-6f);
  // Just above halfway rounds up.
  EXPECT_EQ(to_float(from_float<BFloat16>(1.0f + 0x1p-8f + 0x1p-20f)), 1.0f + 0x1p-7f);
  EXPECT_TRUE(std::isnan(to_float(from_float<BFloat16>(std::nanf("")))));
}

// Floats spread over every sign, exponent and mantissa (a prime stride
// through the bit patterns), plus the values rounding treats specially.
std::vector<float> many_floats() {
  std::vector<float> values = {0.0f,
                               -0.0f,
                               1.0f + 0x1p-8f,
                               1.0f + 0x1p-11f,
                               std::numeric_limits<float>::infinity(),
                               -std::numeric_limits<float>::infinity(),
                               std::numeric_limits<float>::max(),
                               std::numeric_limits<float>::denorm_min(),
                               std::nanf(""),
                               -std::nanf("")};
  for (uint64_t bits = 0; bits <= 0xffffffffu; bits += 7919)
    values.push_back(std::bit_cast<float>(static_cast<uint32_t>(bits)));
  return values;
}

// bf16 rounding by its definition: the nearer of the two bf16 values around
// x, the one with an even last bit on a tie. Past the largest bf16 the
// upper neighbour is infinity, at the distance 2^128 would be (IEEE's
// overflow rule).
float bfloat16_by_definition(float x) {
  if (std::isinf(x)) return x;
  const uint32_t bits = std::bit_cast<uint32_t>(x);
  const float toward_zero = std::bit_cast<float>(bits & 0xffff0000u);
  const float away = std::bit_cast<float>((bits & 0xffff0000u) + 0x10000u);
  const double away_value = std::isinf(away) ? std::copysign(0x1p128, x) : away;
  const double below = std::fabs(static_cast<double>(x) - toward_zero);
  const double above = std::fabs(away_value - x);
  if (below != above) return below < above ? toward_zero : away;
  return (bits & 0x10000u) == 0 ? toward_zero : away;
}

TEST(Rounding, BFloat16IsTheNearerNeighbourTiesToEven) {
  for (const float x : many_floats()) {
    if (std::isnan(x)) {
      EXPECT_TRUE(std::isnan(to_float(from_float<BFloat16>(x))));
      continue;
    }
    const float expected = bfloat16_by_definition(x);
    ASSERT_EQ(std::bit_cast<uint32_t>(to_float(from_float<BFloat16>(x))),
              std::bit_cast<uint32_t>(expected))
        << "x = " << x;
  }
}

// narrow() against from_float, in rows of an odd length so that every
// vector width leaves a tail.
template <typename Element>
void expect_narrow_matches_one_at_a_time() {
  const std::vector<float> values = many_floats();
  constexpr int64_t kRow = 37;
  std::vector<Element> row(kRow);
  for (std::size_t first = 0; first + kRow <= values.size(); first += kRow) {
    cpu::narrow(values.data() + first, row.data(), kRow);
    for (int64_t d = 0; d < kRow; ++d)
      ASSERT_EQ(row[d].bits, from_float<Element>(values[first + d]).bits)
          << "x = " << values[first + d];
  }
}

// narrow_stochastically() against round_stochastically with the same bits.
template <typename Element>
void expect_stochastic_narrow_matches_one_at_a_time() {
  const std::vector<float> values = many_floats();
  constexpr int64_t kRow = 37;
  constexpr uint64_t kKey = 99;
  std::vector<Element> row(kRow);
  for (std::size_t first = 0; first + kRow <= values.size(); first += kRow) {
    cpu::narrow_stochastically(values.data() + first, row.data(), kRow, kKey, first);
    for (int64_t d = 0; d < kRow; ++d)
      ASSERT_EQ(
          row[d].bits,
          round_stochastically<Element>(values[first + d], counter_hash(kKey, first + d)).bits)
          << "x = " << values[first + d];
  }
}

TEST(Rounding, VectorisedNarrowingEqualsOneElementAtATime) {
  expect_narrow_matches_one_at_a_time<Float16>();
  expect_narrow_matches_one_at_a_time<BFloat16>();
  expect_stochastic_narrow_matches_one_at_a_time<Float16>();
  expect_stochastic_narrow_matches_one_at_a_time<BFloat16>();
}

template <typename Element>
void expect_unbiased(float value) {
  double sum = 0.0;
  const float nearest = to_float(from_float<Element>(value));
  const int draws = 200000;
  for (int i = 0; i < draws; ++i) {
    const float rounded = to_float(round_stochastically<Element>(value, counter_hash(7, i)));
    // Always one of the two neighbours of value.
    ASSERT_LE(std::fabs(rounded - value), 2 * std::fabs(nearest - value) + 1e-2f);
    sum += rounded;
  }
  EXPECT_NEAR(sum / draws, value, 1e-3 * std::fabs(value));
}

TEST(Rounding, StochasticRoundingIsUnbiased) {
  expect_unbiased<BFloat16>(1.001f);
  expect_unbiased<BFloat16>(-3.3f);
  expect_unbiased<Float16>(0.1234f);
  expect_unbiased<Float16>(-700.3f);
}

RowStorage rounded_copy(const RowStorage& fp32, DType dtype) {
  RowStorage out = RowStorage::allocate(fp32.num_rows(), fp32.dim(), dtype);
  visit_element_type(dtype, [&]<typename Element>(Element) {
    for (int64_t r = 0; r < fp32.num_rows(); ++r)
      for (int64_t d = 0; d < fp32.dim(); ++d)
        out.mutable_row<Element>(r)[d] = from_float<Element>(fp32.row<float>(r)[d]);
  });
  return out;
}

class ReducedPrecision : public ::testing::TestWithParam<DType> {};

TEST_P(ReducedPrecision, KernelsMatchReferenceAndStayWithinBoundsOfFp32) {
  const DType dtype = GetParam();
  // Relative rounding error of one stored element.
  const float unit_roundoff = dtype == DType::f16 ? 0x1p-11f : 0x1p-8f;
  std::mt19937_64 rng(11);
  for (int64_t dim : {1, 7, 16, 33, 128}) {
    const RowStorage fp32 = testing::random_weights(rng, 300, dim);
    const testing::RandomBags bags = testing::random_bags(rng, 40, 100, 300);
    EmbeddingBagOptions options;
    options.mode = PoolingMode::sum;
    EmbeddingBag exact = EmbeddingBag::from_pretrained(fp32, options);
    EmbeddingBag reduced = EmbeddingBag::from_pretrained(rounded_copy(fp32, dtype), options);
    const BagInput input{
        bags.indices, {static_cast<int64_t>(bags.indices.size())}, bags.offsets, std::nullopt, {}};
    const Lookup low = reduced.forward(input);
    const Lookup high = exact.forward(input);

    std::vector<float> reference(low.output.values.size());
    reference::pooled_forward(reduced.weights(), low.saved.batch(kNoPadding), reference, {});
    ASSERT_THAT(low.output.values, ::testing::ElementsAreArray(reference)) << "dim " << dim;

    for (int64_t b = 0; b < 40; ++b)
      for (int64_t d = 0; d < dim; ++d) {
        // |error| <= sum over the bag of |x| * unit roundoff, plus the fp32
        // summation error both sides share (one ulp per addition at most).
        double magnitude = 0.0;
        for (int64_t p = bags.offsets[b];
             p < (b + 1 < 40 ? bags.offsets[b + 1] : static_cast<int64_t>(bags.indices.size()));
             ++p)
          magnitude += std::fabs(fp32.row<float>(bags.indices[p])[d]);
        const double bound = magnitude * (unit_roundoff + 100 * 0x1p-24);
        EXPECT_LE(std::fabs(low.output.values[b * dim + d] - high.output.values[b * dim + d]),
                  bound + 1e-7)
            << "dim " << dim << " bag " << b;
      }
  }
}

// A table's rows widened to fp32 (exactly).
std::vector<float> widened_values(const RowStorage& weights) {
  std::vector<float> values(weights.num_rows() * weights.dim());
  visit_element_type(weights.dtype(), [&]<typename Element>(Element) {
    for (std::size_t i = 0; i < values.size(); ++i)
      values[i] = to_float(weights.row<Element>(0)[i]);
  });
  return values;
}

// `reduced`'s rows are `exact`'s rounded to nearest even, and the two
// optimizers hold the same state.
void expect_rounded_copy(const EmbeddingBag& reduced, const EmbeddingBag& exact,
                         RowOptimizer& reduced_optimizer, RowOptimizer& exact_optimizer,
                         const std::string& what) {
  ASSERT_THAT(reduced_optimizer.state(), ::testing::ElementsAreArray(exact_optimizer.state()))
      << what;
  const std::vector<float> exact_values = widened_values(exact.weights());
  visit_element_type(reduced.weights().dtype(), [&]<typename Element>(Element) {
    if constexpr (!std::is_same_v<Element, float>) {
      for (std::size_t i = 0; i < exact_values.size(); ++i)
        ASSERT_EQ(reduced.weights().row<Element>(0)[i].bits,
                  from_float<Element>(exact_values[i]).bits)
            << what << ", element " << i;
    }
  });
}

// A reduced-precision table's fused step, and an update from gradients
// summed elsewhere, are the fp32 ones on its widened rows, rounded back to
// nearest even. The dims cover the fixed-dim kernels (64, 128) and the
// generic one; the rows span several chunks.
TEST_P(ReducedPrecision, UpdatesAreTheFp32UpdatesOfTheWidenedRowsRounded) {
  const DType dtype = GetParam();
  std::mt19937_64 rng(23);
  EmbeddingBagOptions options;
  options.mode = PoolingMode::sum;
  const RowWiseAdagradOptions adagrad{.lr = 0.05f};
  for (int64_t dim : {7, 16, 64, 128}) {
    const int64_t rows = 3000;
    const std::string at_dim = "dim " + std::to_string(dim);
    EmbeddingBag reduced = EmbeddingBag::from_pretrained(
        rounded_copy(testing::random_weights(rng, rows, dim), dtype), options, false);
    EmbeddingBag exact = EmbeddingBag::from_pretrained(
        RowStorage::copy_of(widened_values(reduced.weights()), rows, dim), options, false);
    const testing::RandomBags bags = testing::random_bags(rng, 200, 20, rows);
    const BagInput input{
        bags.indices, {static_cast<int64_t>(bags.indices.size())}, bags.offsets, std::nullopt, {}};
    const Lookup low = reduced.forward(input);
    const Lookup high = exact.forward(input);
    const std::vector<float> grad_output = testing::random_values(rng, low.output.values.size());
    RowWiseAdagrad reduced_optimizer(rows, dim, adagrad);
    RowWiseAdagrad exact_optimizer(rows, dim, adagrad);
    reduced.step(low, grad_output, reduced_optimizer);
    exact.step(high, grad_output, exact_optimizer);
    expect_rounded_copy(reduced, exact, reduced_optimizer, exact_optimizer, "step, " + at_dim);

    // Gradients summed elsewhere (a data-parallel table), applied after a
    // step has widened whole blocks of rows on this thread; compared with
    // an fp32 table holding the stepped rows.
    EmbeddingBag stepped = EmbeddingBag::from_pretrained(
        RowStorage::copy_of(widened_values(reduced.weights()), rows, dim), options, false);
    RowWiseAdagrad stepped_optimizer(rows, dim, adagrad);
    std::ranges::copy(reduced_optimizer.state(), stepped_optimizer.state().begin());
    const std::vector<int64_t> rows_given = {2, 1500, 2999};
    const std::vector<float> gradients_given = testing::random_values(rng, 3 * dim);
    reduced.apply_gradients(rows_given, gradients_given, reduced_optimizer);
    stepped.apply_gradients(rows_given, gradients_given, stepped_optimizer);
    expect_rounded_copy(reduced, stepped, reduced_optimizer, stepped_optimizer,
                        "apply_gradients, " + at_dim);
  }
}

// SGD steps far smaller than half an ulp: nearest-even rounding loses every
// one of them, stochastic rounding keeps them on average.
std::vector<float> train_tiny_steps(DType dtype, bool stochastic, int threads) {
  omp_set_num_threads(threads);
  EmbeddingBagOptions options;
  options.num_embeddings = 1000;
  options.embedding_dim = 4;
  options.mode = PoolingMode::sum;
  options.dtype = dtype;
  options.stochastic_rounding = stochastic;
  options.seed = 5;
  EmbeddingBag bag = EmbeddingBag::from_pretrained(
      rounded_copy(RowStorage::copy_of(std::vector<float>(4000, 1.0f), 1000, 4), dtype), options,
      false);
  std::vector<int64_t> ids(1000);
  for (int64_t i = 0; i < 1000; ++i) ids[i] = i;
  const std::vector<int64_t> offsets = {0};
  Sgd sgd(1000, 4, {.lr = 1e-3f});
  for (int step = 0; step < 50; ++step) {
    const Lookup lookup = bag.forward({ids, {1000}, offsets, std::nullopt, {}});
    bag.step(lookup, std::vector<float>(4, 1.0f), sgd);  // w -= 1e-3
  }
  std::vector<float> weights(4000);
  visit_element_type(dtype, [&]<typename Element>(Element) {
    for (int64_t i = 0; i < 4000; ++i) weights[i] = to_float(bag.weights().row<Element>(0)[i]);
  });
  omp_set_num_threads(omp_get_num_procs());
  return weights;
}

TEST_P(ReducedPrecision, StochasticRoundingKeepsSmallUpdatesDeterministically) {
  const DType dtype = GetParam();
  const std::vector<float> nearest = train_tiny_steps(dtype, false, 2);
  const std::vector<float> one_thread = train_tiny_steps(dtype, true, 1);
  const std::vector<float> two_threads = train_tiny_steps(dtype, true, 2);
  EXPECT_EQ(one_thread, two_threads);
  double mean_stochastic = 0;
  for (float w : two_threads) mean_stochastic += w / two_threads.size();
  if (dtype == DType::bf16) {
    // Every step is under half an ulp of 1.0.
    EXPECT_EQ(nearest, std::vector<float>(nearest.size(), 1.0f));
  }
  EXPECT_NEAR(mean_stochastic, 1.0 - 50 * 1e-3, 2e-3);
}

INSTANTIATE_TEST_SUITE_P(Storage, ReducedPrecision, ::testing::Values(DType::f16, DType::bf16),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

}  // namespace
}  // namespace rowshard
