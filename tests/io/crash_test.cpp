// Crash safety for real: a child process saving checkpoints in a loop is
// killed with SIGKILL at many moments; every time, the newest complete
// checkpoint must load intact (checksums verified) and be one whole save.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "rowshard/engine/embedding_bag_collection.h"
#include "rowshard/io/checkpoint/directory.h"
#include "rowshard/io/checkpoint/restore.h"

extern char** environ;

namespace rowshard::checkpoint {
namespace {

TEST(CrashSafety, KillMinus9AtAnyMomentLeavesTheLatestCheckpointWhole) {
  const auto root = std::filesystem::temp_directory_path() / "rowshard_crash_test";
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root);
  std::mt19937_64 rng(1);
  int64_t newest = 0;
  int kills_with_a_checkpoint = 0;
  for (int trial = 0; trial < 25; ++trial) {
    pid_t child = 0;
    std::string child_path = ROWSHARD_CRASH_CHILD, root_path = root.string();
    char* child_argv[] = {child_path.data(), root_path.data(), nullptr};
    ASSERT_EQ(posix_spawn(&child, child_path.c_str(), nullptr, nullptr, child_argv, environ), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + rng() % 1200));
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the child stopped by itself";

    const std::optional<std::filesystem::path> latest = latest_checkpoint(root);
    if (!latest) continue;  // killed before its first save finished
    ++kills_with_a_checkpoint;
    CollectionTableConfig config;
    config.table.name = "marked";
    config.table.num_embeddings = 200'000;
    config.table.embedding_dim = 16;
    config.table.seed = 99;
    EmbeddingBagCollection collection({config}, {{"f", "marked", false}});
    const Restored restored = restore(collection, *latest);
    EXPECT_EQ(*latest, root / checkpoint_name(restored.step));
    EXPECT_EQ(collection.local_table(0).weights().row<float>(0)[0],
              static_cast<float>(restored.step))
        << "the checkpoint is not one step's save";
    // Every run starts again at step 1 and overwrites; what matters is that
    // the newest one is whole, not that steps grow across runs.
    newest = restored.step;
  }
  EXPECT_GT(kills_with_a_checkpoint, 10) << "too few kills landed after a first save";
  EXPECT_GT(newest, 0);
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace rowshard::checkpoint
