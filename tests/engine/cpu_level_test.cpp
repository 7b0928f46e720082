// The kernels of every CPU level this machine has give bit-identical
// results: lookups (sum, weighted sum, mean, max), fp16 and bf16 rows
// widened and rounded back (to nearest and stochastically), and row-wise
// Adagrad steps, at the dims with kernels of their own and one without.
// And a level that the CPU lacks or that does not exist is refused.
#include "rowshard/engine/cpu_level.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "rowshard/engine/embedding_bag.h"
#include "rowshard/engine/error.h"
#include "rowshard/engine/optimizers/rowwise_adagrad.h"
#include "tests/engine/random_batches.h"
#include "tests/engine/skip_levels_this_cpu_lacks.h"

namespace rowshard {
namespace {

// Sets a level for a scope, then goes back to the one before.
class UsingLevel {
 public:
  explicit UsingLevel(CpuLevel level) : before_(cpu_level()) { use_cpu_level(level); }
  ~UsingLevel() { use_cpu_level(before_); }
  UsingLevel(const UsingLevel&) = delete;
  UsingLevel& operator=(const UsingLevel&) = delete;

 private:
  CpuLevel before_;
};

struct TrainingCase {
  int64_t dim;
  DType dtype;
  bool stochastic_rounding;
  PoolingMode mode;
  bool weighted;
};

std::string case_name(const ::testing::TestParamInfo<TrainingCase>& info) {
  const TrainingCase& c = info.param;
  return std::string(pooling_mode_name(c.mode)) + (c.weighted ? "_weighted" : "") + "_dim" +
         std::to_string(c.dim) + "_" + std::string(dtype_name(c.dtype)) +
         (c.stochastic_rounding ? "_stochastic" : "");
}

// Every lookup's output, then the table's bytes and the optimizer's state,
// after a few steps of row-wise Adagrad with weight decay.
std::vector<std::byte> train(const TrainingCase& c) {
  constexpr int64_t kRows = 300;
  EmbeddingBagOptions options;
  options.name = "levels";
  options.num_embeddings = kRows;
  options.embedding_dim = c.dim;
  options.dtype = c.dtype;
  options.stochastic_rounding = c.stochastic_rounding;
  options.mode = c.mode;
  options.seed = 11;
  EmbeddingBag bag(options);
  RowWiseAdagrad adagrad(kRows, c.dim, {.lr = 0.05f, .weight_decay = 0.01f});
  std::mt19937_64 rng(static_cast<uint64_t>(c.dim) * 31 + static_cast<uint64_t>(c.dtype));
  std::vector<std::byte> results;
  auto keep = [&](const void* data, std::size_t bytes) {
    const auto* first = static_cast<const std::byte*>(data);
    results.insert(results.end(), first, first + bytes);
  };
  for (int step = 0; step < 4; ++step) {
    const testing::RandomBags bags = testing::random_bags(rng, 48, 40, kRows);
    BagInput input{
        bags.indices, {static_cast<int64_t>(bags.indices.size())}, bags.offsets, std::nullopt, {}};
    if (c.weighted) input.per_sample_weights = bags.per_sample_weights;
    const Lookup lookup = bag.forward(input);
    keep(lookup.output.values.data(), lookup.output.values.size() * sizeof(float));
    bag.step(lookup, testing::random_values(rng, lookup.output.values.size()), adagrad);
  }
  keep(bag.weights().bytes(), bag.weights().size_bytes());
  const std::span<float> state = adagrad.state();
  keep(state.data(), state.size_bytes());
  return results;
}

class EveryCpuLevel : public ::testing::TestWithParam<TrainingCase> {};

TEST_P(EveryCpuLevel, TrainsBitIdenticallyToTheBaseline) {
  std::vector<std::byte> baseline;
  {
    UsingLevel using_baseline(CpuLevel::baseline);
    baseline = train(GetParam());
  }
  for (CpuLevel level : supported_cpu_levels()) {
    UsingLevel using_level(level);
    const std::vector<std::byte> results = train(GetParam());
    ASSERT_EQ(results.size(), baseline.size());
    EXPECT_EQ(std::memcmp(results.data(), baseline.data(), results.size()), 0)
        << cpu_level_name(level) << " differs from the baseline";
  }
}

std::vector<TrainingCase> training_cases() {
  std::vector<TrainingCase> cases;
  for (int64_t dim : {16, 40, 64, 128}) {
    for (DType dtype : {DType::f32, DType::f16, DType::bf16}) {
      for (bool stochastic : {false, true}) {
        if (dtype == DType::f32 && stochastic) continue;
        cases.push_back({dim, dtype, stochastic, PoolingMode::sum, false});
        cases.push_back({dim, dtype, stochastic, PoolingMode::sum, true});
        cases.push_back({dim, dtype, stochastic, PoolingMode::mean, false});
        cases.push_back({dim, dtype, stochastic, PoolingMode::max, false});
      }
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Kernels, EveryCpuLevel, ::testing::ValuesIn(training_cases()), case_name);

TEST(CpuLevel, ChoosesTheBestLevelTheCpuHasUnlessForced) {
  const std::vector<CpuLevel> supported = supported_cpu_levels();
  ASSERT_FALSE(supported.empty());
  EXPECT_EQ(supported.front(), CpuLevel::baseline);
  const char* forced = std::getenv("ROWSHARD_CPU_LEVEL");
  if (forced == nullptr)
    EXPECT_EQ(cpu_level(), supported.back());
  else
    EXPECT_EQ(cpu_level_name(cpu_level()), forced);
}

TEST(CpuLevel, RefusesALevelTheCpuLacksNamingTheOnesItHas) {
  const CpuLevel has[] = {CpuLevel::baseline, CpuLevel::avx2};
  EXPECT_EQ(parse_cpu_level("avx2", has), CpuLevel::avx2);
  EXPECT_THAT([&] { parse_cpu_level("avx512", has); },
              ::testing::ThrowsMessage<InvalidArgument>(::testing::StrEq(
                  "ROWSHARD_CPU_LEVEL=avx512: this CPU lacks the instructions of that level; it "
                  "has baseline, avx2")));
}

TEST(CpuLevel, RefusesAnUnknownLevelNamingTheValidOnes) {
  const std::vector<CpuLevel> has = supported_cpu_levels();
  EXPECT_THAT([&] { parse_cpu_level("AVX512", has); },
              ::testing::ThrowsMessage<InvalidArgument>(::testing::StrEq(
                  "ROWSHARD_CPU_LEVEL='AVX512' is not a CPU level; valid: baseline, avx2, "
                  "avx512")));
}

}  // namespace
}  // namespace rowshard
