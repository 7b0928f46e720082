// The host-and-device arithmetic of the CUDA pooled forward
// (engine/bag_arithmetic.h) and its launch layout (engine/cuda/forward_plan.h),
// run on the host: the kernel's loop written out over a plan of many tasks
// must give the reference's (and the CPU engine's) bits.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "engine/bag_arithmetic.h"
#include "engine/cpu/pooling.h"
#include "engine/cuda/forward_plan.h"
#include "engine/reference/pooling.h"
#include "rowshard/engine/element_types.h"

namespace rowshard {
namespace {

using cuda::kColumnsPerLane;

uint32_t bits_of(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}

TEST(WidenElement, Fp16BitsWidenAsTheEngineDoesForEveryValue) {
  for (uint32_t bits = 0; bits <= 0xffffu; ++bits) {
    const float expected = to_float(Float16{static_cast<uint16_t>(bits)});
    const float got = widen_element<DType::f16>(static_cast<uint16_t>(bits));
    if (std::isnan(expected)) {
      ASSERT_TRUE(std::isnan(got)) << std::hex << bits;
    } else {
      ASSERT_EQ(bits_of(got), bits_of(expected)) << std::hex << bits;
    }
  }
}

TEST(WidenElement, Bf16BitsWidenAsTheEngineDoesForEveryValue) {
  for (uint32_t bits = 0; bits <= 0xffffu; ++bits)
    ASSERT_EQ(bits_of(widen_element<DType::bf16>(static_cast<uint16_t>(bits))),
              bits_of(to_float(BFloat16{static_cast<uint16_t>(bits)})))
        << std::hex << bits;
}

TEST(BagArithmetic, IdsOutsideTheTableAndPaddingAreRecognised) {
  EXPECT_TRUE(id_in_range(0, 10));
  EXPECT_TRUE(id_in_range(9, 10));
  EXPECT_FALSE(id_in_range(10, 10));
  EXPECT_FALSE(id_in_range(-1, 10));
  EXPECT_FALSE(id_in_range(0, 0));
  EXPECT_FALSE(entry_is_pooled(3, 3));
  EXPECT_TRUE(entry_is_pooled(3, kNoPadding));
}

TEST(BagArithmetic, MaxKeepsTheFirstEntryReachingTheMaximum) {
  PooledColumn column;
  pool_entry(PoolingMode::max, column, 2.0f, 1.0f, 10, 0);
  pool_entry(PoolingMode::max, column, 2.0f, 1.0f, 11, 1);
  EXPECT_EQ(column.position, 10);
  pool_entry(PoolingMode::max, column, 3.0f, 1.0f, 12, 2);
  EXPECT_EQ(column.position, 12);
  // The first entry wins whatever it holds, even below the column's start.
  PooledColumn negative;
  pool_entry(PoolingMode::max, negative, -5.0f, 1.0f, 4, 0);
  EXPECT_EQ(finished_value(PoolingMode::max, negative, 1), -5.0f);
  EXPECT_EQ(PooledColumn{}.position, -1);  // an empty bag's position
}

TEST(BagArithmetic, MeanDividesByThePooledEntriesAndEmptyBagsAreZero) {
  PooledColumn column;
  for (int e = 0; e < 3; ++e) pool_entry(PoolingMode::mean, column, 1.0f, 1.0f, e, e);
  EXPECT_EQ(finished_value(PoolingMode::mean, column, 3), 1.0f);
  EXPECT_EQ(finished_value(PoolingMode::mean, PooledColumn{}, 0), 0.0f);
  EXPECT_EQ(finished_value(PoolingMode::sum, PooledColumn{}, 0), 0.0f);
}

// --- The kernel's loop, on the host ---------------------------------------

// Tables of three storage types, values on a coarse grid so that max-mode
// ties are common.
RowStorage grid_table(std::mt19937_64& rng, int64_t rows, int64_t dim, DType dtype) {
  RowStorage storage = RowStorage::allocate(rows, dim, dtype);
  std::uniform_int_distribution<int> step(-8, 8);
  visit_element_type(dtype, [&]<typename Element>(Element) {
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t d = 0; d < dim; ++d)
        storage.mutable_row<Element>(r)[d] = from_float<Element>(0.375f * step(rng));
  });
  return storage;
}

template <DType kDType>
void load_columns(const void* rows, int64_t id, int64_t dim, int64_t column, int count,
                  float* values) {
  const auto* row = static_cast<const StorageOf<kDType>*>(rows) + id * dim + column;
  for (int k = 0; k < count; ++k) values[k] = widen_element<kDType>(row[k]);
}

struct StagedArrays {
  std::vector<int64_t> ids;
  std::vector<float> weights;
  std::vector<float> output;
  std::vector<int64_t> positions;
};

// What pooled_forward.cu uploads for `plan`.
StagedArrays stage(const cuda::ForwardPlan& plan) {
  StagedArrays staged;
  staged.ids.resize(plan.total_ids);
  staged.weights.resize(plan.total_ids);
  staged.output.assign(plan.total_outputs, NAN);
  staged.positions.assign(plan.total_outputs, -2);
  for (std::size_t t = 0; t < plan.tasks.size(); ++t) {
    const PooledBatch& batch = plan.sources[t]->batch;
    for (int64_t p = batch.bounds.front(); p < batch.bounds.back(); ++p) {
      staged.ids[plan.id_offsets[t] + p - batch.bounds.front()] = batch.indices[p];
      if (plan.tasks[t].weighted)
        staged.weights[plan.id_offsets[t] + p - batch.bounds.front()] = batch.per_sample_weights[p];
    }
  }
  return staged;
}

// pool_bags and pool_bag of pooled_forward.cu, one lane after another.
void emulate_kernel(const cuda::ForwardPlan& plan, StagedArrays& staged) {
  const cuda::LaunchGeometry geometry = cuda::launch_geometry(plan.max_dim, plan.total_bags);
  for (int64_t bag = 0; bag < plan.total_bags; ++bag) {
    const auto t =
        cuda::task_of_bag(plan.tasks.data(), static_cast<int64_t>(plan.tasks.size()), bag);
    const cuda::StagedTask& task = plan.tasks[t];
    const int64_t local = bag - task.first_bag;
    const int64_t begin = plan.bounds[task.bounds_offset + local];
    const int64_t end = plan.bounds[task.bounds_offset + local + 1];
    for (int lane = 0; lane < geometry.threads_per_bag; ++lane) {
      for (int64_t column = lane * kColumnsPerLane; column < task.dim;
           column += geometry.threads_per_bag * kColumnsPerLane) {
        const int count = static_cast<int>(std::min<int64_t>(kColumnsPerLane, task.dim - column));
        PooledColumn pooled[kColumnsPerLane];
        int64_t entries = 0;
        for (int64_t p = begin; p < end; ++p) {
          const int64_t id = staged.ids[p];
          ASSERT_TRUE(id_in_range(id, task.num_rows));
          if (!entry_is_pooled(id, task.padding_idx)) continue;
          float values[kColumnsPerLane];
          switch (task.dtype) {
            case DType::f32:
              load_columns<DType::f32>(task.rows, id, task.dim, column, count, values);
              break;
            case DType::f16:
              load_columns<DType::f16>(task.rows, id, task.dim, column, count, values);
              break;
            case DType::bf16:
              load_columns<DType::bf16>(task.rows, id, task.dim, column, count, values);
              break;
          }
          const float weight = task.weighted ? staged.weights[p] : 1.0f;
          for (int k = 0; k < count; ++k)
            pool_entry(task.mode, pooled[k], values[k], weight, p + task.position_shift, entries);
          ++entries;
        }
        const int64_t result = task.output_offset + local * task.dim + column;
        for (int k = 0; k < count; ++k) {
          staged.output[result + k] = finished_value(task.mode, pooled[k], entries);
          if (task.mode == PoolingMode::max) staged.positions[result + k] = pooled[k].position;
        }
      }
    }
  }
}

// A collection's layout: features over tables of every storage type and
// mode, sharing one values array, each writing its columns of one
// [batch, total_dim] output; one feature of a batch with no bags.
TEST(KernelOnTheHost, ManyTasksInOneLaunchGiveTheReferenceBits) {
  std::mt19937_64 rng(17);
  struct Feature {
    DType dtype;
    int64_t dim;
    PoolingMode mode;
    bool weighted;
    int64_t padding;
  };
  const std::vector<Feature> features = {
      {DType::f32, 7, PoolingMode::sum, true, kNoPadding},
      {DType::f16, 16, PoolingMode::mean, false, 3},
      {DType::bf16, 5, PoolingMode::max, false, kNoPadding},
      {DType::f32, 130, PoolingMode::max, false, 2},
      {DType::f16, 1, PoolingMode::sum, false, kNoPadding},
  };
  const int64_t batch_size = 23, rows = 11;
  int64_t total_dim = 0;
  for (const Feature& f : features) total_dim += f.dim;

  std::vector<RowStorage> tables;
  std::vector<int64_t> values, bounds = {0};
  std::vector<float> weights;
  for (const Feature& f : features) {
    tables.push_back(grid_table(rng, rows, f.dim, f.dtype));
    for (int64_t b = 0; b < batch_size; ++b) {
      const int64_t entries = static_cast<int64_t>(rng() % 6);
      for (int64_t e = 0; e < entries; ++e) {
        values.push_back(static_cast<int64_t>(rng() % rows));
        weights.push_back(0.25f * static_cast<float>(rng() % 9) - 1.0f);
      }
      bounds.push_back(static_cast<int64_t>(values.size()));
    }
  }
  std::vector<float> output(batch_size * total_dim, NAN);
  std::vector<int64_t> positions(output.size(), -2);
  std::vector<PoolingTask> tasks;
  int64_t column = 0;
  for (std::size_t f = 0; f < features.size(); ++f) {
    PoolingTask task;
    task.weights = &tables[f];
    task.batch = {values, std::span<const int64_t>(bounds).subspan(f * batch_size, batch_size + 1),
                  features[f].weighted ? std::span<const float>(weights) : std::span<const float>(),
                  features[f].mode, features[f].padding};
    task.output = output.data() + column;
    task.max_positions = positions.data() + column;
    task.output_stride = total_dim;
    tasks.push_back(task);
    column += features[f].dim;
  }
  const std::vector<int64_t> no_bag = {static_cast<int64_t>(values.size())};
  PoolingTask empty = tasks.front();
  empty.batch.bounds = no_bag;
  tasks.insert(tasks.begin() + 2, empty);

  // Staged in the reverse of the batch's order, so every task's staged
  // positions differ from its batch positions.
  const std::vector<PoolingTask> reversed(tasks.rbegin(), tasks.rend());
  const cuda::ForwardPlan plan = cuda::plan_forward(reversed);
  ASSERT_EQ(plan.tasks.size(), features.size());  // the batch without bags is left out
  StagedArrays staged = stage(plan);
  emulate_kernel(plan, staged);
  ASSERT_TRUE(cpu::checked_pooled_forward(tasks));

  for (std::size_t i = 0; i < plan.tasks.size(); ++i) {
    const PoolingTask& task = *plan.sources[i];
    const auto f = static_cast<std::size_t>(task.weights - tables.data());
    const int64_t dim = features[f].dim;
    const int64_t first_column = task.output - output.data();
    std::vector<float> expected(batch_size * dim);
    std::vector<int64_t> expected_positions(batch_size * dim);
    reference::pooled_forward(tables[f], task.batch, expected, expected_positions);
    for (int64_t b = 0; b < batch_size; ++b)
      for (int64_t d = 0; d < dim; ++d) {
        const int64_t at = plan.tasks[i].output_offset + b * dim + d;
        ASSERT_EQ(bits_of(staged.output[at]), bits_of(expected[b * dim + d]))
            << "feature " << f << " bag " << b << " column " << d;
        // And the CPU engine's bits, in its strided layout.
        ASSERT_EQ(bits_of(staged.output[at]), bits_of(output[b * total_dim + first_column + d]));
        if (features[f].mode == PoolingMode::max) {
          ASSERT_EQ(staged.positions[at], expected_positions[b * dim + d])
              << "feature " << f << " bag " << b << " column " << d;
        }
      }
  }
}

// --- The plan and the geometry --------------------------------------------

TEST(ForwardPlan, StagesEachTasksOwnIdsOnceAndRebasesItsBounds) {
  const RowStorage table = RowStorage::allocate(10, 3, DType::f32);
  const std::vector<int64_t> values = {1, 2, 3, 4, 5, 6, 7};
  const std::vector<int64_t> first_bounds = {0, 2, 2, 3};  // feature 0: bags of 2, 0, 1 ids
  const std::vector<int64_t> second_bounds = {3, 5, 7};    // feature 1: bags of 2 and 2 ids
  const std::vector<float> weights(values.size(), 1.0f);
  std::vector<float> output(3 * 6);
  std::vector<PoolingTask> tasks(2);
  tasks[0] = {
      &table, {values, first_bounds, {}, PoolingMode::sum, kNoPadding}, output.data(), nullptr, 6};
  tasks[1] = {
      &table, {values, second_bounds, weights, PoolingMode::max, 4}, output.data() + 3, nullptr, 6,
      true};

  const cuda::ForwardPlan plan = cuda::plan_forward(tasks);
  ASSERT_EQ(plan.tasks.size(), 2u);
  EXPECT_EQ(plan.id_offsets, (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(plan.bounds, (std::vector<int64_t>{0, 2, 2, 3, 3, 5, 7}));
  EXPECT_EQ(plan.total_ids, 7);
  EXPECT_EQ(plan.total_bags, 5);
  EXPECT_EQ(plan.total_outputs, 5 * 3);
  EXPECT_EQ(plan.max_dim, 3);
  EXPECT_TRUE(plan.any_weighted);
  EXPECT_TRUE(plan.any_max);
  const cuda::StagedTask& second = plan.tasks[1];
  EXPECT_EQ(second.first_bag, 3);
  EXPECT_EQ(second.num_bags, 2);
  EXPECT_EQ(second.bounds_offset, 4);
  EXPECT_EQ(second.position_shift, 0);  // its ids follow the first's, as in the batch
  EXPECT_EQ(second.output_offset, 9);
  EXPECT_EQ(second.padding_idx, 4);
  EXPECT_TRUE(second.weighted);
  EXPECT_TRUE(second.check_ids);
  EXPECT_FALSE(plan.tasks[0].check_ids);

  // A task alone whose ids start further into the batch: staged from 0,
  // with positions shifted back to the batch's.
  const cuda::ForwardPlan alone = cuda::plan_forward({&tasks[1], 1});
  EXPECT_EQ(alone.bounds, (std::vector<int64_t>{0, 2, 4}));
  EXPECT_EQ(alone.tasks[0].position_shift, 3);
  EXPECT_EQ(alone.total_ids, 4);
}

TEST(LaunchGeometry, LanesPerBagCoverTheColumnsUpToAWarp) {
  EXPECT_EQ(cuda::threads_per_bag(1), 1);
  EXPECT_EQ(cuda::threads_per_bag(4), 1);
  EXPECT_EQ(cuda::threads_per_bag(5), 2);
  EXPECT_EQ(cuda::threads_per_bag(9), 4);
  EXPECT_EQ(cuda::threads_per_bag(64), 16);
  EXPECT_EQ(cuda::threads_per_bag(128), 32);
  EXPECT_EQ(cuda::threads_per_bag(1000), 32);
}

TEST(LaunchGeometry, BlocksCoverEveryBagAndStopAtTheCap) {
  const cuda::LaunchGeometry small = cuda::launch_geometry(128, 10);
  EXPECT_EQ(small.threads_per_bag, 32);
  EXPECT_EQ(small.blocks, 2);  // 8 bags per block of 256 threads
  EXPECT_EQ(cuda::launch_geometry(3, 256).blocks, 1);
  EXPECT_EQ(cuda::launch_geometry(3, 257).blocks, 2);
  EXPECT_EQ(cuda::launch_geometry(3, 0).blocks, 0);
  EXPECT_EQ(cuda::launch_geometry(128, int64_t{1} << 40).blocks, cuda::kMaxBlocks);
}

TEST(LaunchGeometry, EachBagFindsTheTaskHoldingIt) {
  std::vector<cuda::StagedTask> tasks(3);
  tasks[0].first_bag = 0;
  tasks[1].first_bag = 3;
  tasks[2].first_bag = 10;
  const std::vector<int64_t> expected = {0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 2, 2};
  for (int64_t bag = 0; bag < static_cast<int64_t>(expected.size()); ++bag)
    EXPECT_EQ(cuda::task_of_bag(tasks.data(), 3, bag), expected[bag]) << bag;
  EXPECT_EQ(cuda::task_of_bag(tasks.data(), 1, 7), 0);
}

}  // namespace
}  // namespace rowshard
