// Checkpoints of a single-process collection: bit-exact round trips, the
// atomic-save protocol under injected faults, and corrupt files refused.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include "rowshard/engine/embedding_bag_collection.h"
#include "rowshard/engine/error.h"
#include "rowshard/io/checkpoint/directory.h"
#include "rowshard/io/checkpoint/history.h"
#include "rowshard/io/checkpoint/restore.h"
#include "rowshard/io/checkpoint/save.h"
#include "tests/io/faulty_file_system.h"

namespace rowshard::checkpoint {
namespace {

namespace fs = std::filesystem;

std::vector<CollectionTableConfig> configs(uint64_t seed) {
  std::vector<CollectionTableConfig> tables(3);
  tables[0].table.name = "items";
  tables[0].table.num_embeddings = 300;
  tables[0].table.embedding_dim = 8;
  tables[0].table.mode = PoolingMode::sum;
  tables[1].table.name = "users";
  tables[1].table.num_embeddings = 50;
  tables[1].table.embedding_dim = 5;
  tables[1].optimizer.kind = OptimizerKind::adagrad;
  tables[2].table.name = "half";
  tables[2].table.num_embeddings = 70;
  tables[2].table.embedding_dim = 4;
  tables[2].table.dtype = DType::f16;
  tables[2].optimizer.kind = OptimizerKind::sgd;
  for (auto& table : tables) table.table.seed = seed++;
  return tables;
}

const std::vector<FeatureConfig> kFeatures = {
    {"a", "items", false}, {"b", "users", false}, {"c", "half", false}};
const std::vector<std::string> kKeys = {"a", "b", "c"};

// A few training steps, so optimizer state is not all zeros.
void train(EmbeddingBagCollection& collection, int steps) {
  std::mt19937_64 rng(4);
  for (int step = 0; step < steps; ++step) {
    std::vector<int64_t> values, lengths;
    for (int64_t rows : {300, 50, 70})
      for (int b = 0; b < 16; ++b) {
        lengths.push_back(3);
        for (int i = 0; i < 3; ++i) values.push_back(static_cast<int64_t>(rng() % rows));
      }
    const CollectionLookup lookup =
        collection.forward({kKeys, 16, values, lengths, {}, std::nullopt});
    std::vector<float> grad(lookup.output.values.size());
    for (float& g : grad) g = static_cast<float>(rng() % 1000) / 1000.0f - 0.5f;
    collection.step(lookup, grad);
  }
}

std::vector<std::byte> bytes_of(const RowStorage& weights) {
  return {weights.bytes(), weights.bytes() + weights.size_bytes()};
}

void expect_same(EmbeddingBagCollection& a, EmbeddingBagCollection& b) {
  for (int64_t t = 0; t < a.num_tables(); ++t) {
    EXPECT_EQ(bytes_of(a.local_table(t).weights()), bytes_of(b.local_table(t).weights()))
        << "table " << t;
    const auto sa = a.local_optimizer(t).state(), sb = b.local_optimizer(t).state();
    EXPECT_TRUE(std::equal(sa.begin(), sa.end(), sb.begin(), sb.end())) << "table " << t;
  }
}

class Checkpoints : public ::testing::Test {
 protected:
  void SetUp() override {
    // The process id keeps suites run side by side on one machine apart.
    root = fs::temp_directory_path() /
           ("rowshard_ckpt_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "_" +
            std::to_string(::getpid()));
    fs::remove_all(root);
    fs::create_directories(root);
  }
  void TearDown() override { fs::remove_all(root); }
  fs::path root;
};

TEST_F(Checkpoints, RoundTripIsBitExactWithExtrasAndStep) {
  EmbeddingBagCollection trained(configs(1), kFeatures);
  train(trained, 3);
  const Extras extras = {{"dense", {std::byte{1}, std::byte{2}, std::byte{3}}}, {"empty", {}}};
  const fs::path saved = save(trained, {root, 42, 3, "config text"}, extras);
  EXPECT_EQ(saved, root / "ckpt-000042");

  EmbeddingBagCollection fresh(configs(100), kFeatures);  // other initial values
  const Restored restored = restore(fresh, saved);
  expect_same(trained, fresh);
  EXPECT_EQ(restored.step, 42);
  EXPECT_EQ(restored.config, "config text");
  EXPECT_EQ(restored.extras, extras);
}

// The steps a table has taken seed its stochastic rounding: a restored fp16
// table must round its next updates as the saved one would have.
TEST_F(Checkpoints, AStochasticallyRoundedTableContinuesAsIfNeverSaved) {
  auto stochastic = configs(1);
  stochastic[2].table.stochastic_rounding = true;
  EmbeddingBagCollection trained(stochastic, kFeatures);
  train(trained, 3);
  const fs::path saved = save(trained, {.root = root, .step = 3});
  EmbeddingBagCollection restored(stochastic, kFeatures);
  restore(restored, saved);
  EXPECT_EQ(restored.local_table(2).steps_taken(), 3u);
  train(trained, 2);
  train(restored, 2);
  expect_same(trained, restored);
}

TEST_F(Checkpoints, ARestoreRefusesOtherSettingsByName) {
  EmbeddingBagCollection trained(configs(1), kFeatures);
  const fs::path saved = save(trained, {.root = root, .step = 1});
  const auto refusal = [&](auto change) {
    auto other = configs(1);
    change(other);
    EmbeddingBagCollection target(other, kFeatures);
    try {
      restore(target, saved);
      return std::string("restored");
    } catch (const InvalidArgument& error) {
      return std::string(error.what());
    }
  };
  EXPECT_EQ(refusal([](auto& c) { c[0].optimizer.lr = 0.5f; }),
            "checkpoint table 'items': lr is 0.009999999776482582 in the checkpoint but 0.5 in "
            "the collection");
  EXPECT_EQ(refusal([](auto& c) { c[1].table.mode = PoolingMode::max; }),
            "checkpoint table 'users': mode is mean in the checkpoint but max in the collection");
  EXPECT_EQ(refusal([](auto& c) { c[1].table.padding_idx = 2; }),
            "checkpoint table 'users': padding_idx is none in the checkpoint but 2 in the "
            "collection");
  EXPECT_EQ(refusal([](auto& c) { c[2].table.stochastic_rounding = true; }),
            "checkpoint table 'half': stochastic_rounding is false in the checkpoint but true in "
            "the collection");
  EXPECT_EQ(refusal([](auto& c) { c[0].table.seed = 99; }), "restored");  // only drew values
}

TEST_F(Checkpoints, LatestIsTheNewestCompleteOneAndOnlyTheLastKAreKept) {
  EmbeddingBagCollection collection(configs(1), kFeatures);
  for (int64_t step : {10, 20, 30, 40}) save(collection, {root, step, 2, ""});
  fs::create_directories(root / "ckpt-000050.tmp");  // a crashed save
  fs::create_directories(root / "ckpt-000060");      // no manifest: not complete
  EXPECT_EQ(latest_checkpoint(root), root / "ckpt-000040");
  const std::vector<fs::path> kept = complete_checkpoints(root);
  EXPECT_EQ(kept, (std::vector<fs::path>{root / "ckpt-000030", root / "ckpt-000040"}));
  save(collection, {root, 70, 2, ""});
  EXPECT_FALSE(fs::exists(root / "ckpt-000050.tmp")) << "stale .tmp directories are cleaned";
  EXPECT_EQ(resolve_checkpoint(root, "latest"), root / "ckpt-000070");
}

TEST_F(Checkpoints, AFailureAtAnyFileOperationLeavesThePreviousCheckpointWhole) {
  EmbeddingBagCollection first(configs(1), kFeatures);
  save(first, {root, 1, 0, ""});
  EmbeddingBagCollection second(configs(1), kFeatures);
  train(second, 2);

  testing::FaultyFileSystem counting(-1);
  save(second, {root / "count", 2, 0, ""}, {{"x", {std::byte{7}}}}, counting);
  ASSERT_GT(counting.operations(), 10);
  for (int64_t fail_at = 0; fail_at < counting.operations(); ++fail_at) {
    testing::FaultyFileSystem faulty(fail_at);
    bool failed = false;
    try {
      save(second, {root, 2, 0, ""}, {{"x", {std::byte{7}}}}, faulty);
    } catch (const IoError&) {
      failed = true;
    }
    ASSERT_TRUE(failed) << "operation " << fail_at << " did not fail the save";
    // Either the failure came after the rename (the new checkpoint is
    // complete), or latest is still the first one; and it loads intact.
    const fs::path latest = *latest_checkpoint(root);
    EmbeddingBagCollection loaded(configs(9), kFeatures);
    restore(loaded, latest);
    if (latest == root / "ckpt-000001") {
      expect_same(first, loaded);
    } else {
      expect_same(second, loaded);
      fs::remove_all(latest);  // start the next attempt from step 1 again
    }
  }
}

TEST_F(Checkpoints, SavingAStepThatExistsReplacesItWhole) {
  EmbeddingBagCollection first(configs(1), kFeatures);
  save(first, {root, 10, 0, ""});
  EmbeddingBagCollection second(configs(1), kFeatures);
  train(second, 3);
  EXPECT_EQ(save(second, {root, 10, 0, ""}), root / "ckpt-000010");

  EXPECT_EQ(complete_checkpoints(root), std::vector<fs::path>{root / "ckpt-000010"});
  EXPECT_FALSE(fs::exists(root / "ckpt-000010.tmp")) << "the replaced checkpoint is removed";
  EmbeddingBagCollection loaded(configs(9), kFeatures);
  restore(loaded, root / "ckpt-000010");
  expect_same(second, loaded);
}

TEST_F(Checkpoints, AFailureWhileReplacingAStepLeavesItComplete) {
  EmbeddingBagCollection first(configs(1), kFeatures);
  EmbeddingBagCollection second(configs(1), kFeatures);
  train(second, 2);
  const fs::path counted = root / "count";
  save(first, {counted, 10, 0, ""});
  testing::FaultyFileSystem counting(-1);
  save(second, {counted, 10, 0, ""}, {}, counting);
  ASSERT_GT(counting.operations(), 10);
  for (int64_t fail_at = 0; fail_at < counting.operations(); ++fail_at) {
    const fs::path attempt = root / std::to_string(fail_at);
    save(first, {attempt, 10, 0, ""});
    testing::FaultyFileSystem faulty(fail_at);
    EXPECT_THROW(save(second, {attempt, 10, 0, ""}, {}, faulty), IoError)
        << "operation " << fail_at;
    // ckpt-000010 is complete and is the old checkpoint or the new one.
    ASSERT_EQ(complete_checkpoints(attempt), std::vector<fs::path>{attempt / "ckpt-000010"})
        << "operation " << fail_at;
    EmbeddingBagCollection loaded(configs(9), kFeatures);
    restore(loaded, attempt / "ckpt-000010");
    if (bytes_of(loaded.local_table(0).weights()) == bytes_of(first.local_table(0).weights()))
      expect_same(first, loaded);
    else
      expect_same(second, loaded);
    // The next save cleans up whatever the failed one left.
    save(second, {attempt, 10, 0, ""});
    EXPECT_EQ(fs::directory_iterator(attempt)->path(), attempt / "ckpt-000010")
        << "operation " << fail_at;
    fs::remove_all(attempt);
  }
}

TEST_F(Checkpoints, KeepLastNeverRemovesTheCheckpointJustWritten) {
  EmbeddingBagCollection collection(configs(1), kFeatures);
  for (int64_t step : {10, 20, 30}) save(collection, {root, step, 2, ""});
  // Without a history, steps after the one saved are not its to remove.
  save(collection, {root, 5, 2, ""});
  EXPECT_EQ(
      complete_checkpoints(root),
      (std::vector<fs::path>{root / "ckpt-000005", root / "ckpt-000020", root / "ckpt-000030"}));
}

TEST_F(Checkpoints, KeepLastCountsTheRunsLineage) {
  EmbeddingBagCollection old_run(configs(1), kFeatures);
  for (int64_t step : {10, 20, 30, 40}) save(old_run, {root, step, 0, ""});
  // A run rolled back to step 20 with keep_last 2.
  CheckpointHistory history(root / "ckpt-000020", 20);
  EXPECT_EQ(history.outside_lineage(root),
            (std::vector<fs::path>{root / "ckpt-000030", root / "ckpt-000040"}));
  EmbeddingBagCollection new_run(configs(1), kFeatures);
  train(new_run, 2);
  save(new_run, {root, 30, 2, "", &history});
  history.record_save(30);
  EXPECT_EQ(
      complete_checkpoints(root),
      (std::vector<fs::path>{root / "ckpt-000020", root / "ckpt-000030", root / "ckpt-000040"}))
      << "keeps its save and the checkpoint it resumed from; 40 is not its own yet";
  EXPECT_EQ(history.outside_lineage(root), std::vector<fs::path>{root / "ckpt-000040"});
  save(new_run, {root, 40, 2, "", &history});
  history.record_save(40);
  EXPECT_EQ(complete_checkpoints(root),
            (std::vector<fs::path>{root / "ckpt-000030", root / "ckpt-000040"}));
  for (const fs::path& kept : complete_checkpoints(root)) {
    EmbeddingBagCollection loaded(configs(9), kFeatures);
    restore(loaded, kept);
    expect_same(new_run, loaded);
  }
}

TEST_F(Checkpoints, AFreshRunsKeepLastLeavesOtherRunsCheckpointsAlone) {
  EmbeddingBagCollection collection(configs(1), kFeatures);
  for (int64_t step : {10, 20}) save(collection, {root, step, 0, ""});
  CheckpointHistory fresh;
  for (int64_t step : {1, 2, 3}) {
    save(collection, {root, step, 1, "", &fresh});
    fresh.record_save(step);
  }
  EXPECT_EQ(
      complete_checkpoints(root),
      (std::vector<fs::path>{root / "ckpt-000003", root / "ckpt-000010", root / "ckpt-000020"}));
}

TEST_F(Checkpoints, ANegativeStepIsRefused) {
  EmbeddingBagCollection collection(configs(1), kFeatures);
  EXPECT_THROW(save(collection, {root, -3, 0, ""}), InvalidArgument);
  EXPECT_TRUE(fs::is_empty(root));
}

// Copies of a saved checkpoint with one file changed by `damage`.
class Corruption : public Checkpoints {
 protected:
  void SetUp() override {
    Checkpoints::SetUp();
    EmbeddingBagCollection collection(configs(1), kFeatures);
    train(collection, 1);
    original = save(collection, {root, 5, 0, ""});
  }
  fs::path damaged(const std::string& file, const std::function<void(std::string&)>& damage) {
    const fs::path copy = root / "damaged";
    fs::remove_all(copy);
    fs::copy(original, copy, fs::copy_options::recursive);
    std::string bytes;
    {
      std::ifstream in(copy / file, std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    damage(bytes);
    std::ofstream(copy / file, std::ios::binary | std::ios::trunc) << bytes;
    return copy;
  }
  template <typename E>
  void expect_refused(const fs::path& checkpoint, const std::string& needle) {
    EmbeddingBagCollection target(configs(1), kFeatures);
    const std::vector<std::byte> before = bytes_of(target.local_table(0).weights());
    try {
      restore(target, checkpoint);
      ADD_FAILURE() << "accepted a damaged checkpoint (" << needle << ")";
    } catch (const E& error) {
      EXPECT_NE(std::string(error.what()).find(needle), std::string::npos) << error.what();
    }
    EXPECT_EQ(bytes_of(target.local_table(0).weights()), before) << "a refused restore wrote rows";
  }
  fs::path original;
};

const std::string kShard = "items/weight.0-300.bin";

TEST_F(Corruption, TruncationAnywhereIsRefused) {
  const auto size = static_cast<int64_t>(fs::file_size(original / kShard));
  for (int64_t length = 0; length < size; length += std::max<int64_t>(1, size / 97))
    expect_refused<CorruptData>(damaged(kShard, [&](std::string& b) { b.resize(length); }),
                                "weight.0-300.bin");
}

TEST_F(Corruption, FlippedBytesAreCaughtByChecksums) {
  std::mt19937_64 rng(3);
  const auto size = static_cast<int64_t>(fs::file_size(original / kShard));
  for (int trial = 0; trial < 40; ++trial) {
    const int64_t at = static_cast<int64_t>(rng() % size);
    expect_refused<CorruptData>(
        damaged(kShard,
                [&](std::string& b) { b[at] = static_cast<char>(b[at] ^ (1 + rng() % 255)); }),
        "weight.0-300.bin");
  }
}

TEST_F(Corruption, WrongHeaderFieldsAreNamed) {
  expect_refused<CorruptData>(damaged(kShard, [](std::string& b) { b[0] = 'X'; }), "bad magic");
  expect_refused<CorruptData>(damaged(kShard, [](std::string& b) { b[8] = 9; }), "format_version");
  expect_refused<CorruptData>(damaged(kShard, [](std::string& b) { b[20] = 1; }),
                              "header_checksum");
  expect_refused<CorruptData>(damaged(kShard, [](std::string& b) { b[100] = 1; }),
                              "padding byte 100 is not zero");
}

TEST_F(Corruption, ManifestThatLiesIsRefused) {
  expect_refused<CorruptData>(damaged("MANIFEST.json",
                                      [](std::string& m) {
                                        const auto at = m.find("\"end_row\": 300");
                                        m.replace(at, 14, "\"end_row\": 299");
                                      }),
                              "MANIFEST.json");
  expect_refused<CorruptData>(
      damaged("MANIFEST.json", [](std::string& m) { m.resize(m.size() / 2); }), "not JSON");
  expect_refused<CorruptData>(
      damaged("MANIFEST.json",
              [](std::string& m) { m.replace(m.find("items/weight"), 5, "../.."); }),
      "should be 'items/weight");
}

TEST_F(Corruption, MissingShardIsNamed) {
  const fs::path copy = damaged("MANIFEST.json", [](std::string&) {});
  fs::remove(copy / kShard);
  expect_refused<CorruptData>(copy, "is missing");
}

TEST_F(Corruption, ShapesThatDisagreeWithTheCollectionAreRefused) {
  auto other = configs(1);
  other[0].table.num_embeddings = 301;
  EmbeddingBagCollection target(other, kFeatures);
  try {
    restore(target, original);
    FAIL() << "restored 300 rows into 301";
  } catch (const InvalidArgument& error) {
    EXPECT_EQ(std::string(error.what()),
              "checkpoint table 'items': rows is 300 in the checkpoint but 301 in the collection");
  }
}

}  // namespace
}  // namespace rowshard::checkpoint
