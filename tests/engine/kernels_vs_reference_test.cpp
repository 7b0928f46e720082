// Every OpenMP kernel against its plain reference loop, over many shapes,
// modes and bag sizes (0..200). Both reduce each bag in entry order, so the
// results must agree bit for bit.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <tuple>

#include "engine/cpu/pooling.h"
#include "engine/reference/pooling.h"
#include "rowshard/engine/embedding.h"
#include "rowshard/engine/embedding_bag.h"
#include "tests/engine/random_batches.h"

namespace rowshard {
namespace {

using testing::random_bags;
using testing::random_values;
using testing::random_weights;

struct KernelCase {
  int64_t dim;
  PoolingMode mode;
  bool weighted;
  bool padded;
  bool scale_grad_by_freq;
};

std::string case_name(const ::testing::TestParamInfo<KernelCase>& info) {
  const KernelCase& c = info.param;
  return std::string(pooling_mode_name(c.mode)) + "_dim" + std::to_string(c.dim) +
         (c.weighted ? "_weighted" : "") + (c.padded ? "_padded" : "") +
         (c.scale_grad_by_freq ? "_freq" : "");
}

class PooledKernel : public ::testing::TestWithParam<KernelCase> {};

TEST_P(PooledKernel, ForwardAndGradientsMatchReference) {
  const KernelCase c = GetParam();
  std::mt19937_64 rng(c.dim * 131 + static_cast<int>(c.mode) * 7 + c.weighted);
  for (int trial = 0; trial < 6; ++trial) {
    // Few rows make repeats within and across bags common; many rows spread
    // the backward over many chunks of rows (engine/cpu/backward.h).
    const int64_t num_rows = trial % 3 == 0 ? 37 : trial % 3 == 1 ? 1000 : 20000;
    const int64_t num_bags = 1 + static_cast<int64_t>(rng() % 64);
    const testing::RandomBags bags = random_bags(rng, num_bags, 200, num_rows);
    const int64_t padding = c.padded ? static_cast<int64_t>(rng() % num_rows) : kNoPadding;

    EmbeddingBagOptions options;
    options.name = "kernel";
    options.mode = c.mode;
    options.scale_grad_by_freq = c.scale_grad_by_freq;
    if (c.padded) options.padding_idx = padding;
    EmbeddingBag bag = EmbeddingBag::from_pretrained(random_weights(rng, num_rows, c.dim), options,
                                                     /*freeze=*/false);

    BagInput input{
        bags.indices, {static_cast<int64_t>(bags.indices.size())}, bags.offsets, std::nullopt, {}};
    if (c.weighted) input.per_sample_weights = bags.per_sample_weights;
    const Lookup lookup = bag.forward(input);

    const PooledBatch batch = lookup.saved.batch(padding);
    std::vector<float> expected(num_bags * c.dim);
    std::vector<int64_t> expected_positions(c.mode == PoolingMode::max ? num_bags * c.dim : 0);
    reference::pooled_forward(bag.weights(), batch, expected, expected_positions);
    ASSERT_THAT(lookup.output.values, ::testing::ElementsAreArray(expected)) << "trial " << trial;
    ASSERT_EQ(lookup.saved.max_positions, expected_positions);

    const std::vector<float> grad_output = random_values(rng, lookup.output.values.size());
    std::vector<float> expected_gradient(num_rows * c.dim);
    reference::dense_gradient(batch, expected_positions, grad_output, num_rows, c.dim,
                              c.scale_grad_by_freq, expected_gradient);
    const Tensor dense = bag.dense_gradient(lookup, grad_output);
    ASSERT_THAT(dense.values, ::testing::ElementsAreArray(expected_gradient)) << "trial " << trial;

    // The sparse gradient is the dense one restricted to the distinct
    // non-padding rows, ascending.
    std::vector<int64_t> distinct;
    for (int64_t r : bags.indices)
      if (r != padding) distinct.push_back(r);
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    const SparseGradient sparse = bag.sparse_gradient(lookup, grad_output);
    ASSERT_EQ(sparse.rows, distinct);
    for (std::size_t i = 0; i < distinct.size(); ++i)
      for (int64_t d = 0; d < c.dim; ++d)
        ASSERT_EQ(sparse.values[i * c.dim + d], expected_gradient[distinct[i] * c.dim + d]);
  }
}

std::vector<KernelCase> kernel_cases() {
  std::vector<KernelCase> cases;
  for (int64_t dim : {1, 3, 16, 17, 32, 33, 64, 128})
    for (PoolingMode mode : {PoolingMode::sum, PoolingMode::mean, PoolingMode::max})
      for (bool padded : {false, true}) {
        cases.push_back({dim, mode, false, padded, false});
        if (mode == PoolingMode::sum) cases.push_back({dim, mode, true, padded, false});
        if (mode != PoolingMode::max) cases.push_back({dim, mode, false, padded, true});
      }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Shapes, PooledKernel, ::testing::ValuesIn(kernel_cases()), case_name);

TEST(GatherKernel, MatchesReferenceForAnyShape) {
  std::mt19937_64 rng(5);
  for (int64_t dim : {1, 3, 17, 33}) {
    const RowStorage weights = random_weights(rng, 50, dim);
    std::vector<int64_t> indices(301);
    for (int64_t& i : indices) i = static_cast<int64_t>(rng() % 50);
    std::vector<float> expected(indices.size() * dim), got(indices.size() * dim);
    reference::gather_rows(weights, indices, expected);
    cpu::gather_rows(weights, indices, got);
    EXPECT_EQ(got, expected) << "dim " << dim;
  }
}

}  // namespace
}  // namespace rowshard
