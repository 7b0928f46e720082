// The training job's configuration: everything rowshard-train does comes
// from here. docs/config.md is its reference; configs/ has examples.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "rowshard/engine/device.h"
#include "rowshard/engine/embedding_bag_collection.h"
#include "rowshard/sharding/communicator.h"
#include "rowshard/sharding/sharded_collection.h"

namespace rowshard::config {

struct TableSpec {
  CollectionTableConfig collection;  // name, rows, dim, pooling, dtype, optimizer, ...
  // Sharding of this table; unset means the job's `sharding` applies.
  std::optional<TableSharding> sharding;
  // Pretrained vectors (.npy, safetensors, rowshard shard file); unset means
  // N(0, 1) from the job's seed.
  std::optional<std::string> pretrained_path;
  std::optional<std::string> pretrained_tensor;
  bool freeze = false;
};

struct SyntheticData {
  int64_t num_dense = 13;
  double zipf_alpha = 1.05;
  // Scale of the planted model's weights: larger makes clicks more
  // predictable (a higher ceiling AUC).
  double signal = 1.0;
};

struct TsvData {
  std::vector<std::string> files;
  std::vector<std::string> eval_files;
  // "criteo", or explicit columns.
  bool criteo_layout = true;
  int label_column = 0;
  std::vector<int64_t> dense_columns;
  std::vector<int64_t> categorical_columns;
  bool fail_on_malformed = false;
};

struct DataConfig {
  std::string source = "synthetic";  // "synthetic" | "tsv"
  SyntheticData synthetic;
  TsvData tsv;
};

struct ModelConfig {
  std::vector<int64_t> bottom_mlp = {64};
  std::vector<int64_t> top_mlp = {64, 32};
  std::string optimizer = "adam";  // "sgd" | "adam"
  double lr = 1e-3;
  double weight_decay = 0;
};

struct JobConfig {
  std::string file;            // where it was read from
  std::string effective_yaml;  // the config after --set, as printed at start
  uint64_t seed = 1;
  int threads = 0;            // 0: OpenMP's default
  int64_t batch_size = 1024;  // global: all ranks together
  int64_t steps = 1000;
  int64_t eval_every = 0;  // 0: only at the end
  int64_t eval_examples = 20000;
  double progress_seconds = 5;
  double comm_timeout_s = Communicator::kDefaultTimeoutSeconds;  // the collective watchdog
  Device device = Device::cpu;  // where every table lives; cuda: one GPU per rank
  std::string checkpoint_dir;   // empty: no checkpoints
  int64_t checkpoint_every = 0;
  int keep_last = 3;
  std::string sharding = "auto";  // the default for tables that say nothing
  int64_t memory_budget_mb = 16384;
  std::vector<TableSpec> tables;
  std::vector<FeatureConfig> features;
  DataConfig data;
  ModelConfig model;
};

// Reads the config file, applies the --set overrides in order, and checks
// everything before any work starts: unknown keys, wrong types, missing
// required keys, bad values — each an InvalidArgument naming the file, the
// line and the key. A relative path to a file the job reads (data.tsv.files
// and eval_files, tables' pretrained paths), whether in the file or from
// --set, is taken from the config file's folder: it comes back joined to it.
JobConfig load_job_config(const std::string& path, const std::vector<std::string>& overrides);

}  // namespace rowshard::config
