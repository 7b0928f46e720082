// The CUDA fused backward's host-and-device arithmetic and grouping
// (engine/reduced_precision_bits.h, engine/row_update_arithmetic.h,
// engine/cuda/segment_plan.h), run on the host against what the CPU engine
// and engine/reference compute. The kernels call these same functions.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "engine/counter_hash.h"
#include "engine/cpu/narrow.h"
#include "engine/cuda/segment_plan.h"
#include "engine/reduced_precision_bits.h"
#include "engine/reference/pooling.h"
#include "engine/row_update_arithmetic.h"
#include "rowshard/engine/element_types.h"
#include "rowshard/engine/gradient_source.h"
#include "rowshard/engine/optimizers/adagrad.h"
#include "rowshard/engine/optimizers/rowwise_adagrad.h"
#include "rowshard/engine/optimizers/sgd.h"
#include "rowshard/engine/tensor.h"
#include "tests/engine/random_batches.h"

namespace rowshard {
namespace {

using cuda::EntryTerm;
using cuda::kEntriesPerPartial;
using cuda::StagedSource;
using cuda::StagedStep;

uint32_t bits_of(float value) { return std::bit_cast<uint32_t>(value); }

// Floats over every sign and exponent (a prime stride through the bit
// patterns), and the values rounding treats specially.
std::vector<float> many_floats() {
  std::vector<float> values = {0.0f,
                               -0.0f,
                               65504.0f,
                               65519.0f,
                               65520.0f,
                               0x1p-14f,
                               0x1p-24f,
                               0x1p-25f,
                               0x1.8p-25f,
                               0x1.8p-24f,
                               std::numeric_limits<float>::infinity(),
                               -std::numeric_limits<float>::infinity(),
                               std::numeric_limits<float>::max(),
                               std::numeric_limits<float>::denorm_min()};
  for (uint64_t bits = 0; bits <= 0xffffffffu; bits += 7919)
    values.push_back(std::bit_cast<float>(static_cast<uint32_t>(bits)));
  return values;
}

TEST(CudaRoundingBits, HalfWidensAsToFloatForEveryPattern) {
  for (uint32_t h = 0; h <= 0xffffu; ++h) {
    const float expected = to_float(Float16{static_cast<uint16_t>(h)});
    const float widened = bits::Half::widen(static_cast<uint16_t>(h));
    if (std::isnan(expected))
      ASSERT_TRUE(std::isnan(widened)) << "half bits " << h;
    else
      ASSERT_EQ(bits_of(widened), bits_of(expected)) << "half bits " << h;
  }
}

TEST(CudaRoundingBits, NearestHalfAndBFloatAreFromFloatsBits) {
  for (const float x : many_floats()) {
    if (std::isnan(x)) {
      EXPECT_TRUE(std::isnan(bits::Half::widen(bits::Half::nearest(x))));
      EXPECT_EQ(bits::BFloat::nearest(x), from_float<BFloat16>(x).bits);
      continue;
    }
    ASSERT_EQ(bits::Half::nearest(x), from_float<Float16>(x).bits) << "x = " << x;
    ASSERT_EQ(bits::BFloat::nearest(x), from_float<BFloat16>(x).bits) << "x = " << x;
    ASSERT_EQ(bits_of(bits::BFloat::widen(bits::BFloat::nearest(x))),
              bits_of(to_float(from_float<BFloat16>(x))));
  }
}

// The CPU engine's stochastic rounding (vectorised at the CPU's level) and
// the shared function, drawing counter_hash(key, first + d), agree bit for
// bit.
TEST(CudaRoundingBits, StochasticRoundingIsTheCpuEnginesBits) {
  std::vector<float> values = many_floats();
  std::mt19937_64 rng(5);
  for (const float v : testing::random_values(rng, 4096)) values.push_back(v * 3.0f);
  const auto dim = static_cast<int64_t>(values.size());
  for (const uint64_t key : {uint64_t{0}, uint64_t{77}, uint64_t{0x123456789abcdefULL}}) {
    const uint64_t first = key * 13;
    std::vector<Float16> half(values.size());
    std::vector<BFloat16> bfloat(values.size());
    cpu::narrow_stochastically(values.data(), half.data(), dim, key, first);
    cpu::narrow_stochastically(values.data(), bfloat.data(), dim, key, first);
    for (int64_t d = 0; d < dim; ++d) {
      const uint64_t random = counter_hash(key, first + static_cast<uint64_t>(d));
      const float x = values[d];
      if (std::isnan(x)) continue;
      ASSERT_EQ(bits::round_stochastically<bits::Half>(x, random), half[d].bits) << "x = " << x;
      ASSERT_EQ(bits::round_stochastically<bits::BFloat>(x, random), bfloat[d].bits) << "x = " << x;
    }
  }
}

TEST(CudaRowArithmetic, EntryScaleIsOccurrenceScale) {
  const std::vector<int64_t> indices = {0, 1, 2};
  const std::vector<int64_t> bounds = {0, 3};
  const std::vector<float> weights = {0.3f, -1.7f, 1e-3f};
  for (const PoolingMode mode : {PoolingMode::sum, PoolingMode::mean, PoolingMode::max})
    for (const bool weighted : {false, true})
      for (const int64_t entries : {1, 3, 7})
        for (const int64_t frequency : {1, 2, 3, 11})
          for (int64_t p = 0; p < 3; ++p) {
            const PooledBatch batch{
                indices, bounds,
                weighted ? std::span<const float>(weights) : std::span<const float>(), mode,
                kNoPadding};
            EXPECT_EQ(bits_of(entry_scale(mode == PoolingMode::mean, entries,
                                          weighted ? &weights[p] : nullptr, frequency)),
                      bits_of(occurrence_scale(batch, p, entries, frequency)));
          }
}

// Each optimizer's CPU row update and the shared per-column functions give
// the same bits, for dims that fill the CPU's 16 lanes and dims that do
// not, with and without weight decay.
struct RowCase {
  std::vector<float> weights, gradient;
};
RowCase random_row(std::mt19937_64& rng, int64_t dim) {
  return {testing::random_values(rng, dim), testing::random_values(rng, dim)};
}
const int64_t kDims[] = {1, 5, 16, 17, 64, 100, 128};

TEST(CudaRowArithmetic, SgdColumnsAreSgdsBits) {
  std::mt19937_64 rng(1);
  for (const int64_t dim : kDims)
    for (const float decay : {0.0f, 0.01f}) {
      RowCase row = random_row(rng, dim);
      std::vector<float> expected = row.weights;
      Sgd sgd(1, dim, {0.05f, decay});
      sgd.update_row(0, expected, row.gradient);
      for (int64_t d = 0; d < dim; ++d)
        ASSERT_EQ(bits_of(sgd_column(row.weights[d], row.gradient[d], 0.05f, decay)),
                  bits_of(expected[d]));
    }
}

TEST(CudaRowArithmetic, AdagradColumnsAreAdagradsBits) {
  std::mt19937_64 rng(2);
  for (const int64_t dim : kDims)
    for (const float decay : {0.0f, 0.01f}) {
      const AdagradOptions options{0.1f, 1e-10f, decay, 0.25f};
      Adagrad adagrad(1, dim, options);
      RowCase row = random_row(rng, dim);
      std::vector<float> expected = row.weights;
      std::vector<float> sums(dim, options.initial_accumulator_value);
      for (int step = 0; step < 3; ++step) {
        adagrad.update_row(0, expected, row.gradient);
        for (int64_t d = 0; d < dim; ++d)
          row.weights[d] = adagrad_column(row.weights[d], row.gradient[d], sums[d], options.lr,
                                          options.eps, options.weight_decay);
      }
      for (int64_t d = 0; d < dim; ++d) {
        ASSERT_EQ(bits_of(row.weights[d]), bits_of(expected[d]));
        ASSERT_EQ(bits_of(sums[d]), bits_of(adagrad.state()[d]));
      }
    }
}

// update_rows is what the CPU's fused step calls (its fixed-dim kernels).
TEST(CudaRowArithmetic, RowWiseAdagradIsTheCpuKernelsBits) {
  std::mt19937_64 rng(3);
  for (const int64_t dim : kDims)
    for (const float decay : {0.0f, 0.01f}) {
      const RowWiseAdagradOptions options{0.1f, 1e-8f, decay, 0.5f};
      RowWiseAdagrad optimizer(1, dim, options);
      RowCase row = random_row(rng, dim);
      std::vector<float> expected = row.weights;
      float accumulator = options.initial_accumulator_value;
      const int64_t rows[] = {0};
      for (int step = 0; step < 3; ++step) {
        optimizer.update_rows(rows, expected.data(), row.gradient.data(), 0);
        const RowWiseStep next = rowwise_adagrad_step(
            accumulator, rowwise_square_sum(row.weights.data(), row.gradient.data(), dim, decay),
            dim, options.lr, options.eps);
        accumulator = next.accumulator;
        for (int64_t d = 0; d < dim; ++d)
          row.weights[d] =
              rowwise_adagrad_column(row.weights[d], row.gradient[d], next.step, decay);
      }
      ASSERT_EQ(bits_of(accumulator), bits_of(optimizer.state()[0])) << "dim " << dim;
      for (int64_t d = 0; d < dim; ++d)
        ASSERT_EQ(bits_of(row.weights[d]), bits_of(expected[d])) << "dim " << dim << " col " << d;
    }
}

TEST(CudaSegmentPlan, PartialsCoverHotRowsAndStayUnderTheBound) {
  EXPECT_EQ(cuda::partials_of(kEntriesPerPartial), 0);
  EXPECT_EQ(cuda::partials_of(kEntriesPerPartial + 1), 2);
  EXPECT_EQ(cuda::partials_of(3 * kEntriesPerPartial), 3);
  EXPECT_EQ(cuda::partials_of(1'000'000),
            (1'000'000 + kEntriesPerPartial - 1) / kEntriesPerPartial);
  // Any split of a step's entries into rows: the partials fit the bound.
  std::mt19937_64 rng(4);
  for (int trial = 0; trial < 200; ++trial) {
    int64_t entries = 0, partials = 0;
    for (int row = 0; row < 20; ++row) {
      const int64_t count = static_cast<int64_t>(rng() % (3 * kEntriesPerPartial)) + 1;
      entries += count;
      partials += cuda::partials_of(count);
    }
    ASSERT_LE(partials, cuda::max_partials(entries));
  }
  EXPECT_EQ(cuda::blocks_for_warps(0), 0);
  EXPECT_EQ(cuda::blocks_for_warps(cuda::kWarpsPerBlock + 1), 2);
  EXPECT_EQ(cuda::blocks_for_threads(cuda::kThreadsPerBlock), 1);
}

// A step's lookups and upstream gradients, kept alive for its sources.
struct Lookup {
  std::vector<int64_t> indices, bounds, max_positions, entries_per_bag;
  std::vector<float> per_sample_weights, grad_output;
  PoolingMode mode = PoolingMode::sum;
  int64_t padding_idx = kNoPadding;

  PooledBatch batch() const { return {indices, bounds, per_sample_weights, mode, padding_idx}; }
  GradientSource source(int64_t dim) const {
    return {batch(), grad_output.data(), mode == PoolingMode::max ? max_positions.data() : nullptr,
            dim, entries_per_bag.empty() ? nullptr : entries_per_bag.data()};
  }
};

Lookup random_lookup(std::mt19937_64& rng, PoolingMode mode, int64_t num_rows, int64_t dim,
                     int64_t padding_idx) {
  const testing::RandomBags bags = testing::random_bags(rng, 40, 6, num_rows);
  Lookup lookup;
  lookup.indices = bags.indices;
  lookup.bounds = bags.offsets;
  lookup.bounds.push_back(static_cast<int64_t>(bags.indices.size()));
  if (mode == PoolingMode::sum) lookup.per_sample_weights = bags.per_sample_weights;
  lookup.mode = mode;
  lookup.padding_idx = padding_idx;
  const int64_t num_bags = static_cast<int64_t>(lookup.bounds.size()) - 1;
  lookup.grad_output = testing::random_values(rng, num_bags * dim);
  if (mode == PoolingMode::max) {
    // Each column's winner: one of the bag's non-padding positions, or -1.
    lookup.max_positions.assign(num_bags * dim, -1);
    for (int64_t b = 0; b < num_bags; ++b)
      for (int64_t d = 0; d < dim; ++d)
        for (int64_t p = lookup.bounds[b]; p < lookup.bounds[b + 1]; ++p)
          if (lookup.indices[p] != padding_idx && rng() % 2 == 0) {
            lookup.max_positions[b * dim + d] = p;
            break;
          }
  }
  return lookup;
}

// The kernels' work done in loops on the host, with the same functions:
// locate, stable sort by key, segments, terms, partials, row sums.
SparseGradient group_and_sum_as_the_kernels_do(std::span<const GradientSource> sources,
                                               int64_t num_rows, int64_t dim,
                                               bool scale_grad_by_freq) {
  std::vector<StagedSource> staged;
  std::vector<int64_t> bag_entries;
  int64_t positions = 0;
  for (const GradientSource& source : sources) {
    StagedSource& s = staged.emplace_back();
    s = {source.batch.indices.data(),
         source.batch.bounds.data(),
         source.batch.per_sample_weights.empty() ? nullptr : source.batch.per_sample_weights.data(),
         source.grad_output,
         source.max_positions,
         static_cast<int64_t>(source.batch.indices.size()),
         source.batch.num_bags(),
         source.stride,
         source.batch.padding_idx,
         source.batch.mode,
         positions,
         static_cast<int64_t>(bag_entries.size())};
    for (int64_t b = 0; b < s.num_bags; ++b)
      bag_entries.push_back(source.entries_per_bag != nullptr ? source.entries_per_bag[b]
                                                              : cuda::count_bag_entries(s, b));
    positions += s.num_positions;
  }
  const StagedStep step{staged.data(), static_cast<int64_t>(staged.size()), num_rows,
                        bag_entries.data(), scale_grad_by_freq};
  std::vector<cuda::LocatedEntry> located;
  for (int64_t g = 0; g < positions; ++g) located.push_back(cuda::locate_entry(step, g));
  std::vector<int64_t> order(positions);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return located[a].key < located[b].key; });
  std::vector<cuda::Segment> segments;
  SparseGradient gradient;
  gradient.dim = dim;
  int64_t partials = 0;
  for (int64_t i = 0; i < positions && located[order[i]].key != step.no_gradient_key();) {
    int64_t end = i;
    while (end < positions && located[order[end]].key == located[order[i]].key) ++end;
    segments.push_back({i, end - i, partials});
    gradient.rows.push_back(static_cast<int64_t>(located[order[i]].key));
    partials += cuda::partials_of(end - i);
    i = end;
  }
  std::vector<EntryTerm> terms;
  for (const cuda::Segment& segment : segments)
    for (int64_t i = segment.first_entry; i < segment.first_entry + segment.entries; ++i)
      terms.push_back(cuda::make_term(step, order[i], located[order[i]].bag, segment.entries));
  std::vector<float> partial_sums(partials * dim);
  for (const cuda::Segment& segment : segments)
    for (int64_t j = 0; j < cuda::partials_of(segment.entries); ++j)
      for (int64_t d = 0; d < dim; ++d)
        partial_sums[(segment.first_partial + j) * dim + d] =
            cuda::partial_column_sum(terms.data(), segment, j, d);
  for (const cuda::Segment& segment : segments)
    for (int64_t d = 0; d < dim; ++d)
      gradient.values.push_back(
          cuda::row_column_sum(terms.data(), partial_sums.data(), segment, dim, d));
  return gradient;
}

// reference::dense_gradient over several sources, in source order.
std::vector<float> reference_gradient(std::span<const Lookup> lookups, int64_t num_rows,
                                      int64_t dim, bool scale_grad_by_freq) {
  std::vector<float> total(num_rows * dim, 0.0f);
  for (const Lookup& lookup : lookups) {
    std::vector<float> one(num_rows * dim);
    reference::dense_gradient(lookup.batch(), lookup.max_positions, lookup.grad_output, num_rows,
                              dim, scale_grad_by_freq, one);
    for (std::size_t i = 0; i < total.size(); ++i) total[i] += one[i];
  }
  return total;
}

// One source per mode, with padding, with and without frequency scaling:
// every row (none is hot) gets the reference's gradient bit for bit, and
// only the rows looked up appear, ascending.
TEST(CudaSegmentPlan, ColdRowsAreTheReferencesBits) {
  const int64_t num_rows = 23, dim = 7, padding = 4;
  for (const PoolingMode mode : {PoolingMode::sum, PoolingMode::mean, PoolingMode::max})
    for (const bool by_freq : {false, true}) {
      std::mt19937_64 rng(11);
      const Lookup lookups[] = {random_lookup(rng, mode, num_rows, dim, padding)};
      const GradientSource sources[] = {lookups[0].source(dim)};
      const SparseGradient got = group_and_sum_as_the_kernels_do(sources, num_rows, dim, by_freq);
      const std::vector<float> expected = reference_gradient(lookups, num_rows, dim, by_freq);
      ASSERT_TRUE(std::is_sorted(got.rows.begin(), got.rows.end()));
      EXPECT_EQ(std::count(got.rows.begin(), got.rows.end(), padding), 0);
      for (std::size_t i = 0; i < got.rows.size(); ++i)
        for (int64_t d = 0; d < dim; ++d)
          ASSERT_EQ(bits_of(got.values[i * dim + d]), bits_of(expected[got.rows[i] * dim + d]))
              << "mode " << pooling_mode_name(mode) << " row " << got.rows[i] << " col " << d;
    }
}

// Several sources of a table (a collection's features): each row's entries
// are summed source by source, as the CPU engine sums them. The reference
// sums each source from zero and adds the sources, which is the same order
// only per source, so this compares with the CPU engine's order directly: a
// single source holding all bags is the concatenation.
TEST(CudaSegmentPlan, SourcesAreSummedInSourceThenPositionOrder) {
  const int64_t num_rows = 9, dim = 3;
  std::mt19937_64 rng(12);
  Lookup first = random_lookup(rng, PoolingMode::sum, num_rows, dim, kNoPadding);
  Lookup second = random_lookup(rng, PoolingMode::sum, num_rows, dim, kNoPadding);
  Lookup joined = first;
  for (const int64_t i : second.indices) joined.indices.push_back(i);
  for (std::size_t b = 1; b < second.bounds.size(); ++b)
    joined.bounds.push_back(second.bounds[b] + static_cast<int64_t>(first.indices.size()));
  joined.per_sample_weights.insert(joined.per_sample_weights.end(),
                                   second.per_sample_weights.begin(),
                                   second.per_sample_weights.end());
  joined.grad_output.insert(joined.grad_output.end(), second.grad_output.begin(),
                            second.grad_output.end());
  const GradientSource two[] = {first.source(dim), second.source(dim)};
  const SparseGradient got = group_and_sum_as_the_kernels_do(two, num_rows, dim, true);
  const Lookup joined_only[] = {joined};
  const std::vector<float> expected = reference_gradient(joined_only, num_rows, dim, true);
  for (std::size_t i = 0; i < got.rows.size(); ++i)
    for (int64_t d = 0; d < dim; ++d)
      ASSERT_EQ(bits_of(got.values[i * dim + d]), bits_of(expected[got.rows[i] * dim + d]));
}

// Positions outside every bag and padding entries get no gradient; a mean
// source that gives its entry counts is divided by them.
TEST(CudaSegmentPlan, PositionsOutsideBagsAndPaddingAreLeftOut) {
  const int64_t num_rows = 5, dim = 2;
  Lookup lookup;
  lookup.indices = {1, 2, 3, 2, 4};
  lookup.bounds = {1, 3, 4};  // position 0 and 4 are in no bag
  lookup.mode = PoolingMode::mean;
  lookup.padding_idx = 3;
  lookup.entries_per_bag = {4, 2};
  lookup.grad_output = {1.0f, 2.0f, 3.0f, 4.0f};
  const GradientSource sources[] = {lookup.source(dim)};
  const SparseGradient got = group_and_sum_as_the_kernels_do(sources, num_rows, dim, false);
  // Bag 0 = {2, 3 (padding)}: row 2 gets [1, 2] / 4; bag 1 = {2}: [3, 4] / 2.
  ASSERT_EQ(got.rows, std::vector<int64_t>({2}));
  EXPECT_EQ(got.values, std::vector<float>({0.25f + 1.5f, 0.5f + 2.0f}));
}

// A row looked up far more than kEntriesPerPartial times is summed from
// partials: within float rounding of the exact (double) sum, while the
// other rows keep the reference's bits.
TEST(CudaSegmentPlan, HotRowIsSummedFromPartialsNearTheExactSum) {
  const int64_t num_rows = 6, dim = 4, hot = 3;
  const int64_t hits = 10 * kEntriesPerPartial + 17;
  std::mt19937_64 rng(13);
  Lookup lookup;
  lookup.mode = PoolingMode::sum;
  for (int64_t b = 0; b < hits; ++b) {
    lookup.bounds.push_back(static_cast<int64_t>(lookup.indices.size()));
    lookup.indices.push_back(hot);
    if (b % 100 == 0) lookup.indices.push_back(b % num_rows == hot ? 0 : b % num_rows);
  }
  lookup.bounds.push_back(static_cast<int64_t>(lookup.indices.size()));
  lookup.grad_output = testing::random_values(rng, hits * dim);
  const GradientSource sources[] = {lookup.source(dim)};
  const SparseGradient got = group_and_sum_as_the_kernels_do(sources, num_rows, dim, false);
  const Lookup lookups[] = {lookup};
  const std::vector<float> expected = reference_gradient(lookups, num_rows, dim, false);
  for (std::size_t i = 0; i < got.rows.size(); ++i)
    for (int64_t d = 0; d < dim; ++d) {
      const float value = got.values[i * dim + d];
      if (got.rows[i] != hot) {
        ASSERT_EQ(bits_of(value), bits_of(expected[got.rows[i] * dim + d]));
        continue;
      }
      double exact = 0.0, magnitude = 0.0;
      for (int64_t b = 0; b < hits; ++b) {
        exact += lookup.grad_output[b * dim + d];
        magnitude += std::fabs(lookup.grad_output[b * dim + d]);
      }
      // Recursive summation's bound: each partial adds at most K roundings,
      // the reduction one per partial.
      const double roundings = kEntriesPerPartial + cuda::partials_of(hits);
      EXPECT_NEAR(value, exact, roundings * 0x1p-24 * magnitude) << "col " << d;
    }
}

}  // namespace
}  // namespace rowshard
