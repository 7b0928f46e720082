#include "training/config/job_config.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "rowshard/engine/error.h"
#include "training/config/yaml_node.h"

namespace rowshard::config {
namespace {

// The planner works in bytes, as int64: memory_budget_mb << 20 must fit.
constexpr int64_t kMaxMemoryBudgetMb = INT64_MAX >> 20;

// A device this process can use: a build without CUDA, or a machine where
// no GPU answers, is refused here, before anything runs.
Device parse_device(const ConfigNode& node) {
  const std::optional<Device> device = device_from_name(node.as_string());
  if (!device) node.fail(message("'", node.as_string(), "' is not one of: cpu, cuda"));
  if (const std::string reason = device_unavailable_reason(*device); !reason.empty())
    node.fail(message("'", node.as_string(), "': ", reason));
  return *device;
}

TableSharding parse_sharding(const ConfigNode& node) {
  const std::optional<TableSharding> sharding = sharding_from_name(node.as_string());
  if (!sharding)
    node.fail(message("'", node.as_string(), "' is not one of: ", valid_sharding_names()));
  return *sharding;
}

OptimizerConfig parse_table_optimizer(const ConfigNode& node) {
  node.allow_only({"name", "lr", "eps", "weight_decay", "initial_accumulator_value"});
  OptimizerConfig optimizer;
  optimizer.kind =
      *parse_optimizer_kind(node.at("name").as_choice({"sgd", "adagrad", "rowwise_adagrad"}));
  optimizer.lr = static_cast<float>(node.number("lr", optimizer.lr));
  if (node.has("eps")) optimizer.eps = static_cast<float>(node.at("eps").as_number());
  optimizer.weight_decay = static_cast<float>(node.number("weight_decay", 0));
  optimizer.initial_accumulator_value =
      static_cast<float>(node.number("initial_accumulator_value", 0));
  return optimizer;
}

TableSpec parse_table(const ConfigNode& node, uint64_t seed, std::size_t index) {
  node.allow_only({"name", "rows", "dim", "pooling", "padding_idx", "max_norm", "dtype",
                   "stochastic_rounding", "optimizer", "sharding", "cuda_memory", "pretrained"});
  TableSpec spec;
  EmbeddingBagOptions& table = spec.collection.table;
  table.name = node.at("name").as_string();
  table.num_embeddings = node.at("rows").as_integer(1);
  table.embedding_dim = node.at("dim").as_integer(1);
  table.mode = *parse_pooling_mode(
      node.has("pooling") ? node.at("pooling").as_choice({"sum", "mean", "max"}) : "sum");
  if (node.has("padding_idx")) table.padding_idx = node.at("padding_idx").as_integer();
  if (node.has("max_norm")) table.max_norm = node.at("max_norm").as_number();
  table.dtype = *dtype_from_name(
      node.has("dtype") ? node.at("dtype").as_choice({"f32", "f16", "bf16"}) : "f32");
  table.stochastic_rounding = node.boolean("stochastic_rounding", false);
  table.seed = seed * 1000 + index;
  spec.collection.optimizer.lr = 0.05f;
  if (node.has("optimizer"))
    spec.collection.optimizer = parse_table_optimizer(node.at("optimizer"));
  if (node.has("sharding")) spec.sharding = parse_sharding(node.at("sharding"));
  if (node.has("cuda_memory"))
    table.cuda_memory = node.at("cuda_memory").as_choice({"device", "host_mapped"}) == "device"
                            ? CudaMemory::device
                            : CudaMemory::host_mapped;
  if (node.has("pretrained")) {
    const ConfigNode pretrained = node.at("pretrained");
    pretrained.allow_only({"path", "tensor", "freeze"});
    spec.pretrained_path = pretrained.at("path").as_string();
    if (pretrained.has("tensor")) spec.pretrained_tensor = pretrained.at("tensor").as_string();
    spec.freeze = pretrained.boolean("freeze", false);
  }
  return spec;
}

DataConfig parse_data(const ConfigNode& node) {
  node.allow_only({"source", "synthetic", "tsv"});
  DataConfig data;
  data.source = node.at("source").as_choice({"synthetic", "tsv"});
  if (node.has("synthetic")) {
    const ConfigNode synthetic = node.at("synthetic");
    synthetic.allow_only({"num_dense", "zipf_alpha", "signal"});
    data.synthetic.num_dense = synthetic.integer("num_dense", data.synthetic.num_dense, 0);
    data.synthetic.zipf_alpha = synthetic.number("zipf_alpha", data.synthetic.zipf_alpha);
    if (data.synthetic.zipf_alpha <= 0) synthetic.at("zipf_alpha").fail("must be > 0");
    data.synthetic.signal = synthetic.number("signal", data.synthetic.signal);
  }
  if (data.source == "tsv") {
    const ConfigNode tsv = node.at("tsv");
    tsv.allow_only({"files", "eval_files", "layout", "on_malformed"});
    data.tsv.files = tsv.at("files").as_strings();
    if (data.tsv.files.empty()) tsv.at("files").fail("needs at least one file");
    if (tsv.has("eval_files")) data.tsv.eval_files = tsv.at("eval_files").as_strings();
    if (tsv.has("on_malformed"))
      data.tsv.fail_on_malformed = tsv.at("on_malformed").as_choice({"skip", "fail"}) == "fail";
    if (tsv.has("layout")) {
      const ConfigNode layout = tsv.at("layout");
      if (layout.is_scalar()) {
        layout.as_choice({"criteo"});
      } else {
        layout.allow_only({"label", "dense", "categorical"});
        data.tsv.criteo_layout = false;
        data.tsv.label_column = static_cast<int>(layout.at("label").as_integer(0));
        data.tsv.dense_columns = layout.at("dense").as_integers(0);
        data.tsv.categorical_columns = layout.at("categorical").as_integers(0);
      }
    }
  }
  return data;
}

ModelConfig parse_model(const ConfigNode& node) {
  node.allow_only({"bottom_mlp", "top_mlp", "optimizer"});
  ModelConfig model;
  if (node.has("bottom_mlp")) model.bottom_mlp = node.at("bottom_mlp").as_integers(1);
  if (node.has("top_mlp")) model.top_mlp = node.at("top_mlp").as_integers(1);
  if (node.has("optimizer")) {
    const ConfigNode optimizer = node.at("optimizer");
    optimizer.allow_only({"name", "lr", "weight_decay"});
    model.optimizer = optimizer.at("name").as_choice({"sgd", "adam"});
    model.lr = optimizer.number("lr", model.lr);
    model.weight_decay = optimizer.number("weight_decay", 0);
  }
  return model;
}

// The model without dense features has no bottom MLP: a bottom_mlp given
// with hidden widths is refused rather than silently dropped, and the
// interaction, then the embeddings' dot products alone, needs two features.
void check_dense_free_model(const ConfigNode& root, JobConfig& job) {
  const bool synthetic = job.data.source == "synthetic";
  const bool dense_free = synthetic
                              ? job.data.synthetic.num_dense == 0
                              : !job.data.tsv.criteo_layout && job.data.tsv.dense_columns.empty();
  if (!dense_free) return;
  const char* why = synthetic ? "data.synthetic.num_dense is 0" : "data.tsv.layout.dense is empty";
  const std::optional<ConfigNode> model = root.find("model");
  const std::optional<ConfigNode> bottom_mlp = model ? model->find("bottom_mlp") : std::nullopt;
  if (bottom_mlp && !job.model.bottom_mlp.empty())
    bottom_mlp->fail(message("there are no dense features (", why,
                             "), so there is no bottom MLP: leave it out or give []"));
  job.model.bottom_mlp.clear();
  if (job.features.size() < 2)
    root.at("features")
        .fail(message("without dense features (", why,
                      ") the model's interaction is the dot products among "
                      "the features' embeddings, so it needs at least 2 features, got ",
                      job.features.size()));
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw IoError(message("cannot read config '", path, "'"));
  return {std::istreambuf_iterator<char>(in), {}};
}

// Makes the files the job reads, if relative, relative to the config file's
// folder rather than to the working directory, so a config runs from anywhere.
void resolve_input_paths(JobConfig& job) {
  const std::filesystem::path folder = std::filesystem::path(job.file).parent_path();
  const auto resolve = [&](std::string& path) {
    if (std::filesystem::path(path).is_relative()) path = (folder / path).lexically_normal();
  };
  for (std::string& file : job.data.tsv.files) resolve(file);
  for (std::string& file : job.data.tsv.eval_files) resolve(file);
  for (TableSpec& table : job.tables)
    if (table.pretrained_path) resolve(*table.pretrained_path);
}

}  // namespace

JobConfig load_job_config(const std::string& path, const std::vector<std::string>& overrides) {
  ConfigNode root = parse_document(read_file(path), path);
  for (const std::string& assignment : overrides) apply_override(root, assignment);
  YAML::Emitter emitter;
  emitter << root.yaml();

  root.allow_only({"seed", "threads", "batch_size", "steps", "eval_every", "eval_examples",
                   "progress_seconds", "comm_timeout_s", "device", "checkpoint", "sharding",
                   "memory_budget_mb", "tables", "features", "data", "model"});
  JobConfig job;
  job.file = path;
  job.effective_yaml = emitter.c_str();
  job.seed = static_cast<uint64_t>(root.integer("seed", 1, 0));
  job.threads = static_cast<int>(root.integer("threads", 0, 0));
  job.batch_size = root.integer("batch_size", job.batch_size, 1);
  job.steps = root.integer("steps", job.steps, 0);
  job.eval_every = root.integer("eval_every", 0, 0);
  job.eval_examples = root.integer("eval_examples", job.eval_examples, 1);
  job.progress_seconds = root.number("progress_seconds", job.progress_seconds);
  job.comm_timeout_s = root.number("comm_timeout_s", job.comm_timeout_s);
  if (!(job.comm_timeout_s > 0 && job.comm_timeout_s <= Communicator::kMaxTimeoutSeconds))
    root.at("comm_timeout_s")
        .fail(message("must be in (0, ", Communicator::kMaxTimeoutSeconds, "], got ",
                      job.comm_timeout_s));
  if (root.has("device")) job.device = parse_device(root.at("device"));
  job.memory_budget_mb =
      root.integer("memory_budget_mb", job.memory_budget_mb, 1, kMaxMemoryBudgetMb);
  if (root.has("checkpoint")) {
    const ConfigNode checkpoint = root.at("checkpoint");
    checkpoint.allow_only({"dir", "every", "keep_last"});
    job.checkpoint_dir = checkpoint.at("dir").as_string();
    job.checkpoint_every = checkpoint.integer("every", 0, 0);
    job.keep_last = static_cast<int>(checkpoint.integer("keep_last", job.keep_last, 0));
  }
  if (root.has("sharding")) {
    const ConfigNode sharding = root.at("sharding");
    job.sharding = sharding.as_string();
    if (job.sharding != "auto" && !sharding_from_name(job.sharding))
      sharding.fail(message("'", job.sharding, "' is not one of: auto, ", valid_sharding_names()));
  }

  std::set<std::string> table_names;
  const std::vector<ConfigNode> tables = root.at("tables").items();
  if (tables.empty()) root.at("tables").fail("needs at least one table");
  for (std::size_t t = 0; t < tables.size(); ++t) {
    job.tables.push_back(parse_table(tables[t], job.seed, t));
    if (tables[t].has("cuda_memory") && job.device != Device::cuda)
      tables[t].at("cuda_memory").fail("applies only to device: cuda (the job's device is cpu)");
    if (!table_names.insert(job.tables.back().collection.table.name).second)
      tables[t].at("name").fail("a table of that name exists already");
    if (job.tables.back().collection.table.embedding_dim !=
        job.tables.front().collection.table.embedding_dim)
      tables[t].at("dim").fail(
          message("every table needs the same dim for the model's dot interaction (the first has ",
                  job.tables.front().collection.table.embedding_dim, ")"));
  }
  std::set<std::string> feature_names;
  const std::vector<ConfigNode> features = root.at("features").items();
  if (features.empty()) root.at("features").fail("needs at least one feature");
  for (const ConfigNode& feature : features) {
    feature.allow_only({"name", "table", "weighted"});
    FeatureConfig config{feature.at("name").as_string(), feature.at("table").as_string(),
                         feature.boolean("weighted", false)};
    if (!feature_names.insert(config.name).second)
      feature.at("name").fail("a feature of that name exists already");
    if (!table_names.count(config.table))
      feature.at("table").fail("'" + config.table + "' is not one of the tables");
    job.features.push_back(config);
  }
  job.data = parse_data(root.at("data"));
  if (job.data.source == "tsv" && !job.data.tsv.criteo_layout &&
      job.data.tsv.categorical_columns.size() != job.features.size())
    root.at("data")
        .at("tsv")
        .at("layout")
        .at("categorical")
        .fail(message("has ", job.data.tsv.categorical_columns.size(), " columns for ",
                      job.features.size(), " features (one column per feature, in order)"));
  if (job.data.source == "tsv" && job.data.tsv.criteo_layout && job.features.size() != 26)
    root.at("features")
        .fail(message("the criteo layout has 26 categorical columns, one per "
                      "feature, but there are ",
                      job.features.size(), " features"));
  if (root.has("model")) job.model = parse_model(root.at("model"));
  check_dense_free_model(root, job);
  resolve_input_paths(job);
  return job;
}

}  // namespace rowshard::config
