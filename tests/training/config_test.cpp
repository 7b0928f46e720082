// Config errors name the file, the line and the key, before any work.
#include "training/config/job_config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "rowshard/engine/error.h"

namespace rowshard::config {
namespace {

// A file per test: CTest runs tests as parallel processes.
std::string write_config(const std::string& name, const std::string& text) {
  const std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  const auto path = std::filesystem::temp_directory_path() / (test + "_" + name);
  std::ofstream(path) << text;
  return path.string();
}

const std::string kValid = R"(seed: 3
batch_size: 64
steps: 10
tables:
  - {name: items, rows: 100, dim: 4}
features:
  - {name: f, table: items}
data:
  source: synthetic
)";

// The message, less the temporary file's path where it starts with it.
std::string error_of(const std::string& text, const std::vector<std::string>& overrides = {}) {
  const std::string path = write_config("rowshard_config_test.yaml", text);
  try {
    load_job_config(path, overrides);
  } catch (const InvalidArgument& error) {
    const std::string what = error.what();
    return what.rfind(path, 0) == 0 ? what.substr(path.size()) : what;
  }
  return "no error";
}

TEST(JobConfig, ReadsAValidConfigWithDefaults) {
  const JobConfig job = load_job_config(write_config("valid.yaml", kValid), {});
  EXPECT_EQ(job.seed, 3u);
  EXPECT_EQ(job.batch_size, 64);
  ASSERT_EQ(job.tables.size(), 1u);
  EXPECT_EQ(job.tables[0].collection.table.num_embeddings, 100);
  EXPECT_EQ(job.tables[0].collection.table.mode, PoolingMode::sum);
  EXPECT_EQ(job.tables[0].collection.optimizer.kind, OptimizerKind::rowwise_adagrad);
  EXPECT_EQ(job.sharding, "auto");
  EXPECT_EQ(job.data.source, "synthetic");
  EXPECT_EQ(job.model.optimizer, "adam");
}

TEST(JobConfig, DeviceIsCpuUnlessCudaIsAskedForAndUsable) {
  EXPECT_EQ(load_job_config(write_config("valid.yaml", kValid), {}).device, Device::cpu);
  EXPECT_EQ(error_of("device: gpu\n" + kValid), ":1: device: 'gpu' is not one of: cpu, cuda");
  const std::string reason = device_unavailable_reason(Device::cuda);
  if (reason.empty()) GTEST_SKIP() << "a GPU answers here";
  EXPECT_EQ(error_of("device: cuda\n" + kValid), ":1: device: 'cuda': " + reason);
  EXPECT_EQ(error_of(kValid, {"device=cuda"}), "--set 'device=cuda': device: 'cuda': " + reason);
}

TEST(JobConfig, CudaMemoryAppliesOnlyToCudaTables) {
  EXPECT_EQ(error_of(R"(tables:
  - {name: items, rows: 100, dim: 4, cuda_memory: host_mapped}
features: [{name: f, table: items}]
data: {source: synthetic}
)"),
            ":2: tables[0].cuda_memory: applies only to device: cuda (the job's device is cpu)");
}

TEST(JobConfig, UnknownKeysNameFileLineAndKey) {
  EXPECT_EQ(error_of(kValid + "stpes: 3\n"),
            ":10: stpes: unknown key (valid here: seed, threads, "
            "batch_size, steps, eval_every, eval_examples, "
            "progress_seconds, comm_timeout_s, device, checkpoint, "
            "sharding, "
            "memory_budget_mb, tables, features, data, model)");
  EXPECT_EQ(error_of(R"(tables:
  - {name: items, rows: 100, dim: 4, colour: red}
features: [{name: f, table: items}]
data: {source: synthetic}
)"),
            ":2: tables[0].colour: unknown key (valid here: name, rows, dim, pooling, "
            "padding_idx, max_norm, dtype, stochastic_rounding, optimizer, sharding, cuda_memory, "
            "pretrained)");
}

TEST(JobConfig, WrongTypesAndValues) {
  EXPECT_EQ(error_of("batch_size: many\n" + kValid.substr(kValid.find("steps"))),
            ":1: batch_size: expected an integer, got 'many'");
  std::string text = kValid;
  text.replace(text.find("rows: 100"), 9, "rows: 0");
  EXPECT_EQ(error_of(text), ":5: tables[0].rows: must be at least 1, got 0");
  text = kValid;
  text.replace(text.find("source: synthetic"), 17, "source: parquet");
  EXPECT_EQ(error_of(text), ":9: data.source: 'parquet' is not one of: synthetic, tsv");
}

TEST(JobConfig, UnknownShardingNamesListTheValidOnes) {
  EXPECT_EQ(error_of("sharding: cyclic\n" + kValid),
            ":1: sharding: 'cyclic' is not one of: auto, row_wise, row_wise_cyclic, table_wise, "
            "column_wise, data_parallel");
  std::string text = kValid;
  text.replace(text.find("dim: 4}"), 7, "dim: 4, sharding: auto}");
  EXPECT_EQ(error_of(text),
            ":5: tables[0].sharding: 'auto' is not one of: row_wise, row_wise_cyclic, "
            "table_wise, column_wise, data_parallel");
}

TEST(JobConfig, MissingKeysAndBrokenReferences) {
  std::string text = kValid;
  text.replace(text.find(", dim: 4"), 8, "");
  EXPECT_EQ(error_of(text), ":5: tables[0]: missing required key 'dim'");
  text = kValid;
  text.replace(text.find("table: items}"), 13, "table: users}");
  EXPECT_EQ(error_of(text), ":7: features[0].table: 'users' is not one of the tables");
  EXPECT_EQ(error_of("steps: 3\n"), ":1: config: missing required key 'tables'");
}

TEST(JobConfig, CommTimeoutIsAPositiveNumberOfSeconds) {
  EXPECT_EQ(load_job_config(write_config("default.yaml", kValid), {}).comm_timeout_s, 300);
  EXPECT_EQ(
      load_job_config(write_config("set.yaml", kValid), {"comm_timeout_s=2.5"}).comm_timeout_s,
      2.5);
  EXPECT_EQ(error_of("comm_timeout_s: 0\n" + kValid),
            ":1: comm_timeout_s: must be in (0, 86400], got 0");
  EXPECT_EQ(error_of("comm_timeout_s: -5\n" + kValid),
            ":1: comm_timeout_s: must be in (0, 86400], got -5");
  EXPECT_EQ(error_of("comm_timeout_s: nan\n" + kValid),
            ":1: comm_timeout_s: must be in (0, 86400], got nan");
  EXPECT_EQ(error_of("comm_timeout_s: 1e9\n" + kValid),
            ":1: comm_timeout_s: must be in (0, 86400], got 1e+09");
}

TEST(JobConfig, OverridesApplyBeforeChecking) {
  const std::string path = write_config("override.yaml", kValid);
  const JobConfig job =
      load_job_config(path, {"steps=25", "tables.0.rows=500", "model.top_mlp=[8, 4]"});
  EXPECT_EQ(job.steps, 25);
  EXPECT_EQ(job.tables[0].collection.table.num_embeddings, 500);
  EXPECT_EQ(job.model.top_mlp, (std::vector<int64_t>{8, 4}));
  EXPECT_NE(job.effective_yaml.find("steps: 25"), std::string::npos);
  EXPECT_THROW(load_job_config(path, {"steps"}), InvalidArgument);
  EXPECT_THROW(load_job_config(path, {"steps=[1"}), InvalidArgument);
  EXPECT_THROW(load_job_config(path, {"steps=soon"}), InvalidArgument);
}

// kValid with its first `from` replaced by `to`.
std::string valid_with(const std::string& from, const std::string& to) {
  std::string text = kValid;
  return text.replace(text.find(from), from.size(), to);
}

TEST(JobConfig, DuplicateKeysAreRefusedNamingBothLines) {
  EXPECT_EQ(error_of(kValid + "steps: 5\n"), ":10: steps: duplicate key, first given at line 3");
  EXPECT_EQ(error_of(valid_with("rows: 100", "rows: 100, rows: 5")),
            ":5: tables[0].rows: duplicate key, first given at line 5");
  EXPECT_EQ(error_of(valid_with("  source: synthetic", "  source: tsv\n  source: synthetic")),
            ":10: data.source: duplicate key, first given at line 9");
  EXPECT_EQ(error_of(kValid, {"model={top_mlp: [4], top_mlp: [8]}"}),
            "--set 'model={top_mlp: [4], top_mlp: [8]}': model.top_mlp: duplicate key");
}

TEST(JobConfig, ErrorsInASetValueNameTheArgument) {
  EXPECT_EQ(error_of(kValid, {"steps=5", "tables.0.rows=abc"}),
            "--set 'tables.0.rows=abc': tables[0].rows: expected an integer, got 'abc'");
  EXPECT_EQ(error_of(kValid, {"data.colour=red"}),
            "--set 'data.colour=red': data.colour: unknown key (valid here: source, synthetic, "
            "tsv)");
  EXPECT_EQ(error_of(kValid, {"checkpoint.every=5"}),
            "--set 'checkpoint.every=5': checkpoint: missing required key 'dir'");
  // A later --set inside an earlier one's value names the later one.
  EXPECT_EQ(error_of(kValid, {"model={top_mlp: [4]}", "model.top_mlp=[0]"}),
            "--set 'model.top_mlp=[0]': model.top_mlp[0]: must be at least 1, got 0");
  // What the file gives is still named by its line.
  EXPECT_EQ(error_of("batch_size: 0\n" + kValid.substr(kValid.find("steps")), {"steps=5"}),
            ":1: batch_size: must be at least 1, got 0");
  EXPECT_EQ(error_of(kValid, {"steps.every=5"}),
            "--set 'steps.every=5': 'steps' is '10', not a mapping with key 'every'");
  EXPECT_EQ(error_of(kValid, {"tables.name=x"}),
            "--set 'tables.name=x': 'tables' is a list: name its element by index, not 'name'");
}

TEST(JobConfig, MemoryBudgetInBytesFitsInt64) {
  const std::string range = "[1, 8796093022207]";  // 8796093022207 << 20 < 2^63
  EXPECT_EQ(error_of(kValid + "memory_budget_mb: 9223372036854775807\n"),
            ":10: memory_budget_mb: must be in " + range + ", got 9223372036854775807");
  EXPECT_EQ(error_of(kValid + "memory_budget_mb: 99999999999999999999\n"),
            ":10: memory_budget_mb: must be in " + range + ", got 99999999999999999999");
  EXPECT_EQ(error_of(kValid + "memory_budget_mb: 0\n"),
            ":10: memory_budget_mb: must be in " + range + ", got 0");
  const JobConfig job = load_job_config(
      write_config("largest.yaml", kValid + "memory_budget_mb: 8796093022207\n"), {});
  EXPECT_EQ(job.memory_budget_mb << 20, INT64_MAX - ((int64_t{1} << 20) - 1));
}

// A tab-separated layout of two categorical columns and no dense ones.
const std::string kDenseFree = R"(tables:
  - {name: items, rows: 100, dim: 4}
features:
  - {name: a, table: items}
  - {name: b, table: items}
data:
  source: tsv
  tsv:
    files: [clicks.tsv]
    layout: {label: 0, dense: [], categorical: [1, 2]}
)";

TEST(JobConfig, ZeroDenseFeaturesMeanNoBottomMlp) {
  const JobConfig tsv = load_job_config(write_config("dense_free.yaml", kDenseFree), {});
  EXPECT_TRUE(tsv.data.tsv.dense_columns.empty());
  EXPECT_TRUE(tsv.model.bottom_mlp.empty());
  const JobConfig synthetic = load_job_config(
      write_config("synthetic.yaml", kValid),
      {"data.synthetic.num_dense=0", "features=[{name: f, table: items}, {name: g, table: items}]",
       "model.bottom_mlp=[]"});
  EXPECT_EQ(synthetic.data.synthetic.num_dense, 0);
  EXPECT_TRUE(synthetic.model.bottom_mlp.empty());

  EXPECT_EQ(error_of(kDenseFree + "model: {bottom_mlp: [8]}\n"),
            ":11: model.bottom_mlp: there are no dense features (data.tsv.layout.dense is "
            "empty), so there is no bottom MLP: leave it out or give []");
  EXPECT_EQ(error_of(kValid, {"data.synthetic.num_dense=0"}),
            ":7: features: without dense features (data.synthetic.num_dense is 0) the model's "
            "interaction is the dot products among the features' embeddings, so it needs at "
            "least 2 features, got 1");
}

TEST(JobConfig, SyntaxErrorsNameTheLine) {
  EXPECT_EQ(error_of("steps: 3\ntables: [\n").substr(0, 3), ":3:");
}

}  // namespace
}  // namespace rowshard::config
