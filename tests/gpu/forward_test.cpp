// The CUDA pooled forward against the CPU engine on the same tables and
// batches: a collection of many tables in one launch (every storage type,
// mode, dim with tails, padding, per-sample weights), both placements, ids
// out of range, reruns, and a launch larger than one grid.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "rowshard/engine/embedding.h"
#include "rowshard/engine/embedding_bag.h"
#include "rowshard/engine/embedding_bag_collection.h"
#include "rowshard/engine/error.h"
#include "rowshard/engine/optimizers/optimizer_config.h"
#include "tests/engine/error_of.h"
#include "tests/gpu/cuda_device.h"

namespace rowshard {
namespace {

using testing::CudaTest;

std::vector<uint32_t> bits_of(std::span<const float> values) {
  std::vector<uint32_t> bits(values.size());
  std::memcpy(bits.data(), values.data(), values.size_bytes());
  return bits;
}

struct TableSpec {
  DType dtype;
  int64_t rows;
  int64_t dim;
  PoolingMode mode;
  std::optional<int64_t> padding;
};

// One feature per table, the first one weighted (sum).
const std::vector<TableSpec> kTables = {
    {DType::f32, 1000, 128, PoolingMode::sum, std::nullopt},
    {DType::f16, 300, 33, PoolingMode::mean, 7},
    {DType::bf16, 50, 5, PoolingMode::max, std::nullopt},
    {DType::f32, 20, 1, PoolingMode::max, 3},
    {DType::f32, 5000, 130, PoolingMode::mean, std::nullopt},
    {DType::f16, 64, 16, PoolingMode::sum, 0},
};

std::vector<CollectionTableConfig> collection_tables(Device device, CudaMemory memory) {
  std::vector<CollectionTableConfig> configs;
  for (std::size_t t = 0; t < kTables.size(); ++t) {
    CollectionTableConfig config;
    config.table.name = message("t", t);
    config.table.num_embeddings = kTables[t].rows;
    config.table.embedding_dim = kTables[t].dim;
    config.table.mode = kTables[t].mode;
    config.table.padding_idx = kTables[t].padding;
    config.table.dtype = kTables[t].dtype;
    config.table.seed = 100 + t;
    config.table.device = device;
    config.table.cuda_memory = memory;
    configs.push_back(config);
  }
  return configs;
}

std::vector<FeatureConfig> collection_features() {
  std::vector<FeatureConfig> features;
  for (std::size_t t = 0; t < kTables.size(); ++t)
    features.push_back({message("f", t), message("t", t), t == 0});
  return features;
}

struct Batch {
  std::vector<std::string> keys;
  int64_t batch_size = 0;
  std::vector<int64_t> values, lengths;
  std::vector<float> weights;
  KeyedJaggedBatch view() const { return {keys, batch_size, values, lengths, {}, weights}; }
};

// Bags of 0..40 ids (about one in eight empty), padding ids included.
Batch random_batch(std::mt19937_64& rng, int64_t batch_size) {
  Batch batch;
  batch.batch_size = batch_size;
  for (std::size_t t = 0; t < kTables.size(); ++t) {
    batch.keys.push_back(message("f", t));
    for (int64_t b = 0; b < batch_size; ++b) {
      const int64_t length = rng() % 8 == 0 ? 0 : static_cast<int64_t>(rng() % 41);
      batch.lengths.push_back(length);
      for (int64_t e = 0; e < length; ++e) {
        batch.values.push_back(static_cast<int64_t>(rng() % kTables[t].rows));
        batch.weights.push_back(static_cast<float>(rng() % 2001) / 1000.0f - 1.0f);
      }
    }
  }
  return batch;
}

void expect_collections_agree(CudaMemory memory) {
  EmbeddingBagCollection cpu(collection_tables(Device::cpu, memory), collection_features());
  EmbeddingBagCollection gpu(collection_tables(Device::cuda, memory), collection_features());
  for (int64_t t = 0; t < cpu.num_tables(); ++t)
    EXPECT_EQ(gpu.local_table(t).weights().placement(), memory_placement(Device::cuda, memory));
  std::mt19937_64 rng(7);
  for (int64_t batch_size : {1, 3, 256}) {
    const Batch batch = random_batch(rng, batch_size);
    const CollectionLookup expected = cpu.forward(batch.view());
    const CollectionLookup got = gpu.forward(batch.view());
    EXPECT_EQ(got.output.shape, expected.output.shape);
    EXPECT_EQ(bits_of(got.output.values), bits_of(expected.output.values)) << batch_size;
    EXPECT_EQ(bits_of(gpu.forward_no_grad(batch.view()).values), bits_of(expected.output.values));
  }
}

TEST_F(CudaTest, CollectionInGpuMemoryGivesTheCpuEnginesBits) {
  expect_collections_agree(CudaMemory::device);
}

TEST_F(CudaTest, CollectionInMappedHostMemoryGivesTheCpuEnginesBits) {
  expect_collections_agree(CudaMemory::host_mapped);
}

TEST_F(CudaTest, SingleTablesGiveTheCpuEnginesBitsAndWinningPositions) {
  std::mt19937_64 rng(11);
  for (const TableSpec& spec : kTables) {
    for (bool weighted : {false, true}) {
      if (weighted && spec.mode != PoolingMode::sum) continue;
      EmbeddingBagOptions options;
      options.num_embeddings = spec.rows;
      options.embedding_dim = spec.dim;
      options.mode = spec.mode;
      options.padding_idx = spec.padding;
      options.dtype = spec.dtype;
      EmbeddingBag cpu(options);
      options.device = Device::cuda;
      EmbeddingBag gpu(options);
      std::vector<int64_t> indices, offsets;
      std::vector<float> weights;
      for (int64_t b = 0; b < 100; ++b) {
        offsets.push_back(static_cast<int64_t>(indices.size()));
        for (int64_t e = static_cast<int64_t>(rng() % 30); e > 0; --e) {
          indices.push_back(static_cast<int64_t>(rng() % spec.rows));
          weights.push_back(static_cast<float>(rng() % 17) / 8.0f - 1.0f);
        }
      }
      BagInput input{indices, {static_cast<int64_t>(indices.size())}, offsets, std::nullopt, {}};
      if (weighted) input.per_sample_weights = weights;
      const Lookup expected = cpu.forward(input);
      const Lookup got = gpu.forward(input);
      EXPECT_EQ(bits_of(got.output.values), bits_of(expected.output.values))
          << dtype_name(spec.dtype) << " dim " << spec.dim;
      EXPECT_EQ(got.saved.max_positions, expected.saved.max_positions);
    }
  }
}

TEST_F(CudaTest, GatheredRowsAreTheStoredRowsWidened) {
  std::mt19937_64 rng(3);
  for (DType dtype : {DType::f32, DType::f16, DType::bf16}) {
    for (int64_t dim : {1, 3, 4, 17, 128}) {
      EmbeddingOptions options;
      options.num_embeddings = 40;
      options.embedding_dim = dim;
      options.dtype = dtype;
      Embedding cpu(options);
      options.device = Device::cuda;
      Embedding gpu(options);
      std::vector<int64_t> indices(333);
      for (int64_t& i : indices) i = static_cast<int64_t>(rng() % 40);
      const IndexInput input{indices, {3, 111}};
      EXPECT_EQ(bits_of(gpu.forward(input).output.values),
                bits_of(cpu.forward(input).output.values))
          << dtype_name(dtype) << " dim " << dim;
    }
  }
  // A row of negative zeros comes back as negative zeros: gathering copies,
  // it does not add to zero.
  const std::vector<float> negative_zeros(2 * 4, -0.0f);
  EmbeddingOptions options;
  options.device = Device::cuda;
  Embedding table = Embedding::from_pretrained(RowStorage::copy_of(negative_zeros, 2, 4), options);
  const std::vector<int64_t> one = {1};
  EXPECT_EQ(bits_of(table.forward({one, {1}}).output.values),
            bits_of(std::vector<float>(4, -0.0f)));
}

TEST_F(CudaTest, AnIdOutOfRangeIsReportedWithTheCpuEnginesMessage) {
  EmbeddingBagCollection cpu(collection_tables(Device::cpu, CudaMemory::device),
                             collection_features());
  EmbeddingBagCollection gpu(collection_tables(Device::cuda, CudaMemory::device),
                             collection_features());
  std::mt19937_64 rng(5);
  Batch batch = random_batch(rng, 64);
  // The first id of the third feature (table t2, 50 rows) past its
  // table's end.
  int64_t position = 0, third_feature_ids = 0;
  for (int64_t i = 0; i < 2 * batch.batch_size; ++i) position += batch.lengths[i];
  for (int64_t i = 2 * batch.batch_size; i < 3 * batch.batch_size; ++i)
    third_feature_ids += batch.lengths[i];
  ASSERT_GT(third_feature_ids, 0);
  batch.values.at(position) = 50;
  const std::string expected = error_of([&] { cpu.forward(batch.view()); });
  ASSERT_THAT(expected, ::testing::HasSubstr("is out of range [0, 50)"));
  EXPECT_EQ(error_of([&] { gpu.forward(batch.view()); }), expected);
  batch.values.at(position) = -1;
  EXPECT_EQ(error_of([&] { gpu.forward_no_grad(batch.view()); }),
            error_of([&] { cpu.forward_no_grad(batch.view()); }));
}

TEST_F(CudaTest, AnIdOutOfRangeLeavesTheOutputUnwritten) {
  EmbeddingBagOptions options;
  options.num_embeddings = 10;
  options.embedding_dim = 6;
  options.mode = PoolingMode::sum;
  options.device = Device::cuda;
  const EmbeddingBag table(options);
  const std::vector<int64_t> ids = {1, 2, 10, 3};
  const std::vector<int64_t> bounds = {0, 2, 4};
  std::vector<float> output(2 * 6, 42.0f);
  std::vector<int64_t> id_copy(ids.size(), -7);
  PoolingTask task;
  task.weights = &table.weights();
  task.batch = {ids, bounds, {}, PoolingMode::sum, kNoPadding};
  task.output = output.data();
  task.output_stride = 6;
  task.unchecked_ids = true;
  task.id_copy = id_copy.data();
  EXPECT_FALSE(table.backend().pooled_forward({&task, 1}));
  EXPECT_EQ(output, std::vector<float>(2 * 6, 42.0f));

  const std::vector<int64_t> good = {1, 2, 9, 3};
  task.batch.indices = good;
  EXPECT_TRUE(table.backend().pooled_forward({&task, 1}));
  EXPECT_EQ(id_copy, good);
}

TEST_F(CudaTest, RerunsGiveTheSameBits) {
  EmbeddingBagCollection gpu(collection_tables(Device::cuda, CudaMemory::device),
                             collection_features());
  std::mt19937_64 rng(9);
  const Batch batch = random_batch(rng, 512);
  const std::vector<uint32_t> first = bits_of(gpu.forward_no_grad(batch.view()).values);
  for (int run = 0; run < 3; ++run)
    EXPECT_EQ(bits_of(gpu.forward_no_grad(batch.view()).values), first) << "run " << run;
}

// More bags than one grid of kMaxBlocks blocks holds: the kernel's grid
// stride covers the rest.
TEST_F(CudaTest, MoreBagsThanOneGridHoldsArePooled) {
  EmbeddingBagOptions options;
  options.num_embeddings = 1000;
  options.embedding_dim = 128;
  options.mode = PoolingMode::sum;
  EmbeddingBag cpu(options);
  options.device = Device::cuda;
  EmbeddingBag gpu(options);
  const int64_t bags = 600'000;  // one grid holds 65536 blocks of 8 bags of dim 128
  std::vector<int64_t> indices(bags);
  for (int64_t b = 0; b < bags; ++b) indices[b] = (b * 7919) % 1000;
  const BagInput input{indices, {bags, 1}, std::nullopt, std::nullopt, {}};
  EXPECT_EQ(bits_of(gpu.forward(input).output.values), bits_of(cpu.forward(input).output.values));
}

TEST_F(CudaTest, ATableLargerThanTheGpusFreeMemoryIsRefusedNamingItAndTheBytes) {
  const cuda::DeviceMemory memory = *cuda::device_memory_info();
  EmbeddingBagOptions options;
  options.name = "big";
  options.embedding_dim = 1024;
  options.num_embeddings = static_cast<int64_t>(memory.total_bytes / 4096 + 1);
  options.device = Device::cuda;
  try {
    EmbeddingBag table(options);
    FAIL() << "a table larger than the GPU was placed in GPU memory";
  } catch (const OutOfMemory& error) {
    EXPECT_THAT(error.what(), ::testing::HasSubstr("EmbeddingBag 'big'"));
    EXPECT_THAT(error.what(),
                ::testing::HasSubstr(std::to_string(options.num_embeddings * 4096) + " bytes"));
  }
}

TEST_F(CudaTest, AnOptimizerWithHostStateIsRefusedForACudaTable) {
  EmbeddingBagOptions options;
  options.name = "gpu";
  options.num_embeddings = 10;
  options.embedding_dim = 4;
  options.mode = PoolingMode::sum;
  options.device = Device::cuda;
  EmbeddingBag table(options);
  const std::vector<int64_t> ids = {1, 2};
  const Lookup lookup = table.forward({ids, {2}, std::nullopt, std::nullopt, {}});
  const std::vector<float> grad(2 * 4, 1.0f);
  const std::vector<float> before = [&] {
    const float* first = table.weights().row<float>(0);
    return std::vector<float>(first, first + 40);
  }();
  auto host_state = make_optimizer({}, 10, 4);
  EXPECT_THAT(error_of([&] { table.step(lookup, grad, *host_state); }),
              ::testing::HasSubstr("EmbeddingBag 'gpu': optimizer rowwise_adagrad keeps its state "
                                   "in host memory"));
  const float* first = table.weights().row<float>(0);
  EXPECT_EQ(std::vector<float>(first, first + 40), before);
  EXPECT_EQ(make_optimizer({}, 10, 4, table.placement())->state_placement(),
            MemoryPlacement::cuda_device);
}

}  // namespace
}  // namespace rowshard
