// from_pretrained over memory-mapped files written by NumPy, by the
// safetensors fixture script, and by our own checkpoints.
#include "rowshard/io/pretrained.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "rowshard/engine/element_types.h"
#include "rowshard/engine/embedding_bag_collection.h"
#include "rowshard/engine/error.h"
#include "rowshard/engine/optimizers/sgd.h"
#include "rowshard/io/checkpoint/save.h"

namespace rowshard {
namespace {

const std::filesystem::path kFixtures = ROWSHARD_IO_FIXTURES;

std::string fixture(const char* name) { return (kFixtures / name).string(); }

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

TEST(Pretrained, FrozenNpyIsServedReadOnlyFromTheMap) {
  EmbeddingBagOptions options;
  options.mode = PoolingMode::sum;
  EmbeddingBag bag = embedding_bag_from_file({fixture("float32_3x4.npy"), {}}, options);
  EXPECT_TRUE(bag.frozen());
  EXPECT_FALSE(bag.weights().writable());
  ASSERT_EQ(bag.num_embeddings(), 3);
  ASSERT_EQ(bag.embedding_dim(), 4);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(bag.weights().row<float>(0)[i], i * 0.5f - 3) << i;
  const std::vector<int64_t> ids = {0, 2};
  const std::vector<int64_t> offsets = {0};
  const Lookup lookup = bag.forward({ids, {2}, offsets, std::nullopt, {}});
  // Rows 0 and 2: (i * 0.5 - 3) + ((i + 8) * 0.5 - 3) = i - 2.
  EXPECT_THAT(lookup.output.values, ::testing::ElementsAreArray<float>({-2, -1, 0, 1}));
}

TEST(Pretrained, LoadsIntoACollectionOfTheFilesShapeOnly) {
  CollectionTableConfig config;
  config.table.name = "t";
  config.table.num_embeddings = 3;
  config.table.embedding_dim = 4;
  config.table.dtype = DType::bf16;  // the file's fp32 values are converted
  EmbeddingBagCollection collection({config}, {{"f", "t", false}});
  load_pretrained(collection, 0, {fixture("float32_3x4.npy"), {}}, /*freeze=*/true);
  const EmbeddingBag& table = collection.local_table(0);
  EXPECT_TRUE(table.frozen());
  for (int i = 0; i < 12; ++i)  // i * 0.5 - 3 is exact in bf16
    EXPECT_EQ(to_float(table.weights().row<BFloat16>(0)[i]), i * 0.5f - 3) << i;

  config.table.num_embeddings = 4;
  EmbeddingBagCollection bigger({config}, {{"f", "t", false}});
  try {
    load_pretrained(bigger, 0, {fixture("float32_3x4.npy"), {}});
    FAIL() << "a [3, 4] file was loaded into a [4, 4] table";
  } catch (const InvalidArgument& error) {
    EXPECT_THAT(error.what(), ::testing::HasSubstr("table 't' is [4, 4] but "));
    EXPECT_THAT(error.what(), ::testing::HasSubstr("float32_3x4.npy holds [3, 4]"));
  }
}

TEST(Pretrained, TrainableTablesCopyOnWriteAndLeaveTheFileAlone) {
  const std::string path = fixture("float32_3x4.npy");
  const std::string before = file_bytes(path);
  EmbeddingBagOptions options;
  options.mode = PoolingMode::sum;
  EmbeddingBag bag = embedding_bag_from_file({path, {}}, options, /*freeze=*/false);
  const std::vector<int64_t> ids = {1};
  const std::vector<int64_t> offsets = {0};
  const Lookup lookup = bag.forward({ids, {1}, offsets, std::nullopt, {}});
  Sgd sgd(3, 4, {.lr = 1.0f});
  bag.step(lookup, std::vector<float>{1, 1, 1, 1}, sgd);
  EXPECT_EQ(bag.weights().row<float>(1)[0], 4 * 0.5f - 3 - 1);
  EXPECT_EQ(file_bytes(path), before);
}

TEST(Pretrained, Float16NpyKeepsItsStorageType) {
  const RowStorage weights = map_pretrained({fixture("float16_2x3.npy"), {}}, false);
  EXPECT_EQ(weights.dtype(), DType::f16);
  EXPECT_EQ(to_float(weights.row<Float16>(1)[2]), 5 * 0.25f);
}

TEST(Pretrained, SafetensorsTensorsByName) {
  Embedding embedding = embedding_from_file(
      {fixture("float32_pair.safetensors"), "embedding.weight"}, EmbeddingOptions{});
  EXPECT_EQ(embedding.weights().row<float>(2)[3], 11 * 0.5f - 3);
  try {
    map_pretrained({fixture("float32_pair.safetensors"), "missing"}, false);
    FAIL() << "found a tensor that is not there";
  } catch (const InvalidArgument& error) {
    EXPECT_NE(std::string(error.what()).find("'embedding.weight', 'dense.bias'"), std::string::npos)
        << error.what();
  }
  EXPECT_THROW(map_pretrained({fixture("float32_pair.safetensors"), "dense.bias"}, false),
               InvalidArgument);  // 1-D
}

TEST(Pretrained, ArraysThatAreNotTablesAreRefusedClearly) {
  EXPECT_THROW(map_pretrained({fixture("fortran_order.npy"), {}}, false), InvalidArgument);
  EXPECT_THROW(map_pretrained({fixture("int64_5.npy"), {}}, false), InvalidArgument);
  EXPECT_THROW(map_pretrained({fixture("float64.npy"), {}}, false), InvalidArgument);
  EXPECT_THROW(map_pretrained({"/nonexistent/table.npy", {}}, false), IoError);
}

TEST(Pretrained, ACheckpointShardFileIsATable) {
  const auto root = std::filesystem::temp_directory_path() / "rowshard_pretrained_test";
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root);
  CollectionTableConfig config;
  config.table.name = "items";
  config.table.num_embeddings = 20;
  config.table.embedding_dim = 3;
  config.table.seed = 5;
  EmbeddingBagCollection collection({config}, {{"f", "items", false}});
  const auto saved = checkpoint::save(collection, {root, 1, 0, ""});
  const RowStorage mapped = map_pretrained({(saved / "items/weight.0-20.bin").string(), {}}, false);
  ASSERT_EQ(mapped.size_bytes(), collection.local_table(0).weights().size_bytes());
  EXPECT_EQ(
      std::memcmp(mapped.bytes(), collection.local_table(0).weights().bytes(), mapped.size_bytes()),
      0);
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace rowshard
