// A checkpoint is the same file whatever device saved it: one saved from
// GPU tables restores into CPU tables and back, bit for bit, weights and
// optimizer state. Label gpu: skipped where no GPU answers.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "rowshard/engine/embedding_bag_collection.h"
#include "rowshard/io/checkpoint/restore.h"
#include "rowshard/io/checkpoint/save.h"

namespace rowshard {
namespace {

EmbeddingBagCollection collection_on(Device device, uint64_t seed) {
  CollectionTableConfig config;
  config.table.name = "items";
  config.table.num_embeddings = 1000;
  config.table.embedding_dim = 24;
  config.table.seed = seed;
  config.table.device = device;
  config.optimizer.kind = OptimizerKind::adagrad;
  return EmbeddingBagCollection({config}, {{"f", "items", false}});
}

// One training step on a fixed batch, so the optimizer state is not its
// initial value.
void train_one_step(EmbeddingBagCollection& collection) {
  const std::vector<std::string> keys = {"f"};
  const std::vector<int64_t> ids = {3, 999, 3, 0, 512, 7, 7, 7};
  const std::vector<int64_t> lengths = {3, 1, 4};
  const KeyedJaggedBatch batch{keys, 3, ids, lengths, {}, std::nullopt};
  std::vector<float> grad(3 * 24);
  for (std::size_t i = 0; i < grad.size(); ++i) grad[i] = 0.01f * static_cast<float>(i % 7) - 0.03f;
  collection.step(collection.forward(batch), grad);
}

void expect_same_state(const EmbeddingBagCollection& a, const EmbeddingBagCollection& b) {
  const RowStorage& wa = a.local_table(0).weights();
  const RowStorage& wb = b.local_table(0).weights();
  ASSERT_EQ(wa.size_bytes(), wb.size_bytes());
  EXPECT_EQ(std::memcmp(wa.bytes(), wb.bytes(), wa.size_bytes()), 0);
  const std::span<const float> sa = a.local_optimizer(0).state();
  const std::span<const float> sb = b.local_optimizer(0).state();
  ASSERT_EQ(sa.size(), sb.size());
  EXPECT_EQ(std::memcmp(sa.data(), sb.data(), sa.size_bytes()), 0);
}

TEST(CheckpointAcrossDevices, GpuTablesRestoreOnTheCpuAndBack) {
  if (const std::string reason = device_unavailable_reason(Device::cuda); !reason.empty())
    GTEST_SKIP() << "device cuda: " << reason;
  const auto root = std::filesystem::temp_directory_path() / "rowshard_checkpoint_devices";
  std::filesystem::remove_all(root);

  EmbeddingBagCollection on_gpu = collection_on(Device::cuda, 5);
  train_one_step(on_gpu);
  const auto from_gpu = checkpoint::save(on_gpu, {root / "from_gpu", 1, 0, ""});
  EmbeddingBagCollection on_cpu = collection_on(Device::cpu, 6);
  checkpoint::restore(on_cpu, from_gpu);
  expect_same_state(on_gpu, on_cpu);

  train_one_step(on_cpu);
  const auto from_cpu = checkpoint::save(on_cpu, {root / "from_cpu", 2, 0, ""});
  EmbeddingBagCollection back_on_gpu = collection_on(Device::cuda, 7);
  checkpoint::restore(back_on_gpu, from_cpu);
  expect_same_state(on_cpu, back_on_gpu);
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace rowshard
