#include "training/trainer.h"

#include <chrono>
#include <filesystem>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <nlohmann/json.hpp>
#include <omp.h>
#include <sstream>

#include "engine/error.h"
#include "io/checkpoint/directory.h"
#include "io/checkpoint/restore.h"
#include "io/checkpoint/save.h"
#include "io/pretrained.h"
#include "sharding/auto_planner.h"
#include "sharding/collectives.h"
#include "training/data/synthetic.h"
#include "training/data/tsv_reader.h"
#include "training/metrics.h"
#include "training/model/dense_optimizer.h"
#include "training/model/dlrm.h"
#include "training/test_stall.h"

namespace rowshard {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The steps whose losses make up the reported training loss.
constexpr std::size_t kLossWindowSteps = 100;

TableSharding sharding_named(const std::string& name) {
  TableSharding sharding;
  if (name == "row_wise_cyclic") sharding.placement = RowPlacement::cyclic;
  if (name == "table_wise") sharding.kind = ShardingKind::table_wise;
  if (name == "column_wise") sharding.kind = ShardingKind::column_wise;
  if (name == "data_parallel") sharding.kind = ShardingKind::data_parallel;
  return sharding;
}

std::vector<std::byte> to_bytes(const void* data, std::size_t bytes) {
  const auto* begin = static_cast<const std::byte*>(data);
  return {begin, begin + bytes};
}

template <typename T>
void from_bytes(const std::vector<std::byte>& bytes, std::span<T> out, const char* what) {
  if (bytes.size() != out.size_bytes())
    throw CorruptData(message("checkpoint extra '", what, "' has ", bytes.size(),
                              " bytes, expected ", out.size_bytes()));
  std::memcpy(out.data(), bytes.data(), bytes.size());
}

TsvLayout layout_of(const config::TsvData& tsv) {
  if (tsv.criteo_layout) return criteo_layout();
  TsvLayout layout;
  layout.label_column = tsv.label_column;
  int last = tsv.label_column;
  for (int64_t c : tsv.dense_columns) {
    layout.dense_columns.push_back(static_cast<int>(c));
    last = std::max(last, static_cast<int>(c));
  }
  for (int64_t c : tsv.categorical_columns) {
    layout.categorical_columns.push_back(static_cast<int>(c));
    last = std::max(last, static_cast<int>(c));
  }
  layout.num_columns = last + 1;
  validate_layout(layout);
  return layout;
}

std::string format_duration(double seconds) {
  const auto total = static_cast<int64_t>(seconds);
  char text[32];
  std::snprintf(text, sizeof text, "%02lld:%02lld:%02lld", static_cast<long long>(total / 3600),
                static_cast<long long>(total / 60 % 60), static_cast<long long>(total % 60));
  return text;
}

}  // namespace

std::string TrainingSummary::to_json() const {
  nlohmann::ordered_json out = {{"steps", steps},
                                {"examples_per_s", examples_per_s},
                                {"train_logloss", train_logloss},
                                {"eval_logloss", eval_logloss},
                                {"eval_auc", eval_auc}};
  if (planted_auc) out["planted_auc"] = *planted_auc;
  out["bytes_exchanged"] = bytes_exchanged;
  out["seconds"] = {{"data", data_seconds},
                    {"embedding_exchange", embedding_exchange_seconds},
                    {"embedding_compute", embedding_compute_seconds},
                    {"dense", dense_seconds}};
  return out.dump();
}

struct Trainer::State {
  config::JobConfig job;
  Communicator& comm;
  std::vector<CollectionTableConfig> tables;
  std::unique_ptr<ShardedEmbeddingBagCollection> embeddings;
  std::unique_ptr<Dlrm> model;
  std::unique_ptr<DenseOptimizer> dense_optimizer;
  std::unique_ptr<BatchSource> train;
  ExampleBatch eval;
  // Synthetic data: the planted click probability of each held-out example.
  std::vector<float> planted_probability;
  int64_t num_dense = 0;
  int64_t step = 0;
  // Per step: the global sum of losses and number of examples.
  std::deque<std::pair<double, double>> recent_losses;
  TrainingSummary summary;
  std::optional<TestStall> test_stall;

  State(config::JobConfig job_config, Communicator& communicator)
      : job(std::move(job_config)), comm(communicator) {}

  bool leader() const { return comm.rank() == 0; }
};

Trainer::~Trainer() = default;

Trainer::Trainer(config::JobConfig job, Communicator& comm)
    : state_(std::make_unique<State>(std::move(job), comm)) {
  State& s = *state_;
  const config::JobConfig& j = s.job;
  if (j.threads > 0) omp_set_num_threads(j.threads);
  comm.set_timeout(j.comm_timeout_s);
  s.test_stall = test_stall_from_environment();
  if (j.batch_size < comm.size())
    throw InvalidArgument(message(j.file, ": batch_size ", j.batch_size,
                                  " is smaller than the ", comm.size(), " ranks"));

  std::vector<TableSharding> sharding(j.tables.size());
  bool needs_auto = false;
  for (std::size_t t = 0; t < j.tables.size(); ++t) {
    s.tables.push_back(j.tables[t].collection);
    if (j.tables[t].sharding)
      sharding[t] = *j.tables[t].sharding;
    else if (j.sharding == "auto")
      needs_auto = true;
    else
      sharding[t] = sharding_named(j.sharding);
  }
  if (needs_auto) {
    AutoPlanInputs inputs;
    inputs.world_size = comm.size();
    inputs.budget_bytes_per_rank = j.memory_budget_mb << 20;
    inputs.batch_size_per_rank = (j.batch_size + comm.size() - 1) / comm.size();
    const AutoPlan plan = plan_auto(s.tables, j.features, inputs);
    for (std::size_t t = 0; t < j.tables.size(); ++t)
      if (!j.tables[t].sharding) sharding[t] = plan.sharding[t];
    if (s.leader()) std::printf("%s", plan.describe(s.tables).c_str());
  }
  s.embeddings = std::make_unique<ShardedEmbeddingBagCollection>(comm, s.tables, sharding,
                                                                 j.features);
  for (std::size_t t = 0; t < j.tables.size(); ++t)
    if (j.tables[t].pretrained_path)
      s.embeddings->load_shard(
          static_cast<int64_t>(t),
          rows_of(map_pretrained({*j.tables[t].pretrained_path, j.tables[t].pretrained_tensor},
                                 false)),
          j.tables[t].freeze);

  std::vector<int64_t> rows_per_feature;
  for (const FeatureConfig& feature : j.features)
    for (const CollectionTableConfig& table : s.tables)
      if (table.table.name == feature.table) rows_per_feature.push_back(table.table.num_embeddings);

  if (j.data.source == "synthetic") {
    SyntheticOptions options;
    options.seed = j.seed;
    options.num_dense = j.data.synthetic.num_dense;
    options.rows_per_feature = rows_per_feature;
    options.zipf_alpha = j.data.synthetic.zipf_alpha;
    options.signal = j.data.synthetic.signal;
    options.global_batch_size = j.batch_size;
    options.rank = comm.rank();
    options.world_size = comm.size();
    s.num_dense = options.num_dense;
    s.train = std::make_unique<SyntheticSource>(options);
    HeldOut held_out = synthetic_held_out(options, j.eval_examples);
    s.eval = std::move(held_out.batch);
    s.planted_probability.assign(held_out.planted_probability.begin(),
                                 held_out.planted_probability.end());
  } else {
    TsvReaderOptions options;
    options.files = j.data.tsv.files;
    options.layout = layout_of(j.data.tsv);
    options.rows_per_feature = rows_per_feature;
    options.batch_size = j.batch_size / comm.size();
    options.rank = comm.rank();
    options.world_size = comm.size();
    options.on_malformed = j.data.tsv.fail_on_malformed ? TsvReaderOptions::OnMalformed::fail
                                                        : TsvReaderOptions::OnMalformed::skip;
    options.loop = true;
    s.num_dense = static_cast<int64_t>(options.layout.dense_columns.size());
    s.train = std::make_unique<TsvReader>(options);
    if (!j.data.tsv.eval_files.empty()) {
      TsvReaderOptions eval_options = options;
      eval_options.files = j.data.tsv.eval_files;
      eval_options.loop = false;
      eval_options.batch_size = j.eval_examples;
      TsvReader eval_reader(eval_options);
      if (auto batch = eval_reader.next()) s.eval = std::move(*batch);
    }
  }

  DlrmConfig model;
  model.num_dense = s.num_dense;
  model.num_sparse = static_cast<int64_t>(j.features.size());
  model.embedding_dim = s.tables.front().table.embedding_dim;
  model.bottom_mlp = j.model.bottom_mlp;
  model.top_mlp = j.model.top_mlp;
  model.seed = j.seed;
  s.model = std::make_unique<Dlrm>(model);
  DenseOptimizerConfig optimizer;
  optimizer.kind = j.model.optimizer;
  optimizer.lr = static_cast<float>(j.model.lr);
  optimizer.weight_decay = static_cast<float>(j.model.weight_decay);
  s.dense_optimizer = std::make_unique<DenseOptimizer>(optimizer, s.model->num_parameters());
}

namespace {

// allreduce_sum, named for the collective watchdog's message.
template <typename T>
void all_reduce(Communicator& comm, std::span<T> values) {
  CollectivePhase phase(comm, Phase::all_reduce);
  allreduce_sum<T>(comm, values);
}

// Concatenates every rank's `values` on rank 0 (others get nothing back).
std::vector<float> gather_on_leader(Communicator& comm, std::span<const float> values) {
  std::vector<int64_t> counts(comm.size(), 0);
  counts[0] = static_cast<int64_t>(values.size());
  return exchange<float>(comm, values, counts).data;
}

// Rank 0's value, on every rank (the others add zeros).
double from_leader(Communicator& comm, double value) {
  std::vector<double> cell = {comm.rank() == 0 ? value : 0.0};
  allreduce_sum<double>(comm, cell);
  return cell[0];
}

// Predicts the held-out set and computes AUC and log loss over all ranks'
// examples together. Collective.
void evaluate(Trainer::State& s) {
  CollectivePhase phase(s.comm, Phase::evaluation);
  const ExampleBatch& eval = s.eval;
  const Tensor pooled = s.embeddings->forward_no_grad(
      {eval.size, eval.sparse_values, eval.sparse_lengths, {}, std::nullopt});
  const std::vector<float> predictions = s.model->predict(eval.dense, pooled.values, eval.size);
  const std::vector<float> all_predictions = gather_on_leader(s.comm, predictions);
  const std::vector<float> all_labels = gather_on_leader(s.comm, eval.labels);
  const std::vector<float> all_planted = gather_on_leader(s.comm, s.planted_probability);
  double auc = 0, loss = 0, planted = 0;
  if (s.leader()) {
    auc = exact_auc(all_predictions, all_labels);
    loss = log_loss(all_predictions, all_labels);
    if (!all_planted.empty()) planted = exact_auc(all_planted, all_labels);
  }
  s.summary.eval_auc = from_leader(s.comm, auc);
  s.summary.eval_logloss = from_leader(s.comm, loss);
  if (!s.planted_probability.empty()) s.summary.planted_auc = from_leader(s.comm, planted);
}

}  // namespace

namespace {

// Everything beyond the tables that an exact resume needs, as checkpoint
// extras: the dense model and its optimizer, every rank's data position,
// and the recent losses behind the reported training loss.
checkpoint::Extras extras_of(Trainer::State& s) {
  checkpoint::Extras extras;
  const std::span<const float> parameters = s.model->parameters();
  extras["dense_parameters"] = to_bytes(parameters.data(), parameters.size_bytes());
  const std::span<const float> state = s.dense_optimizer->state();
  extras["dense_optimizer_state"] = to_bytes(state.data(), state.size_bytes());
  const int64_t steps = s.dense_optimizer->steps();
  extras["dense_optimizer_steps"] = to_bytes(&steps, sizeof steps);
  std::string positions;
  for (const std::string& position : allgather_text(s.comm, s.train->position()))
    positions += position + "\n";
  extras["data_positions"] = to_bytes(positions.data(), positions.size());
  std::vector<uint64_t> table_steps;
  for (int64_t t = 0; t < s.embeddings->num_tables(); ++t)
    table_steps.push_back(s.embeddings->shard(t)->steps_taken());
  extras["table_steps"] = to_bytes(table_steps.data(), table_steps.size() * sizeof(uint64_t));
  std::vector<double> losses;
  for (const auto& [sum, count] : s.recent_losses) losses.insert(losses.end(), {sum, count});
  extras["recent_losses"] = to_bytes(losses.data(), losses.size() * sizeof(double));
  return extras;
}

void save_checkpoint(Trainer::State& s) {
  CollectivePhase phase(s.comm, Phase::checkpoint_save);
  checkpoint::Extras extras = extras_of(s);  // collective: every rank's position
  checkpoint::save(*checkpoint::tables_of(*s.embeddings),
                   {s.job.checkpoint_dir, s.step, s.job.keep_last, s.job.effective_yaml}, extras);
  if (s.leader())
    std::printf("checkpoint: %s\n",
                (std::filesystem::path(s.job.checkpoint_dir) / checkpoint::checkpoint_name(s.step))
                    .c_str());
}

void resume_from(Trainer::State& s, const std::string& which) {
  const std::filesystem::path directory = checkpoint::resolve_checkpoint(s.job.checkpoint_dir, which);
  const checkpoint::Manifest manifest = checkpoint::read_manifest(directory);
  const checkpoint::Restored restored =
      checkpoint::restore(*checkpoint::tables_of(*s.embeddings), directory);
  auto extra = [&](const char* name) -> const std::vector<std::byte>& {
    const auto at = restored.extras.find(name);
    if (at == restored.extras.end())
      throw CorruptData(message("checkpoint '", directory.string(), "' has no '", name,
                                "': it was not saved by rowshard-train"));
    return at->second;
  };
  from_bytes(extra("dense_parameters"), s.model->parameters(), "dense_parameters");
  from_bytes(extra("dense_optimizer_state"), s.dense_optimizer->state(), "dense_optimizer_state");
  int64_t steps = 0;
  from_bytes(extra("dense_optimizer_steps"), std::span(&steps, 1), "dense_optimizer_steps");
  s.dense_optimizer->set_steps(steps);
  std::vector<uint64_t> table_steps(s.embeddings->num_tables());
  from_bytes(extra("table_steps"), std::span(table_steps), "table_steps");
  for (int64_t t = 0; t < s.embeddings->num_tables(); ++t)
    s.embeddings->mutable_shard(t).set_steps_taken(table_steps[t]);
  const std::vector<std::byte>& loss_bytes = extra("recent_losses");
  std::vector<double> losses(loss_bytes.size() / sizeof(double));
  from_bytes(loss_bytes, std::span(losses), "recent_losses");
  s.recent_losses.clear();
  for (std::size_t i = 0; i + 1 < losses.size(); i += 2)
    s.recent_losses.emplace_back(losses[i], losses[i + 1]);

  const std::vector<std::byte>& position_bytes = extra("data_positions");
  std::istringstream positions(std::string(reinterpret_cast<const char*>(position_bytes.data()),
                                           position_bytes.size()));
  std::vector<std::string> by_rank;
  for (std::string line; std::getline(positions, line);) by_rank.push_back(line);
  if (static_cast<int>(by_rank.size()) == s.comm.size()) {
    s.train->seek(by_rank[s.comm.rank()]);
  } else if (s.job.data.source == "synthetic") {
    s.train->seek(by_rank.at(0));  // a global step, the same on every rank
  } else {
    throw InvalidArgument(message(
        "checkpoint '", directory.string(), "' was saved by ", manifest.world_size,
        " ranks; tab-separated data splits lines by rank, so resume it with ",
        manifest.world_size, " ranks"));
  }
  s.step = restored.step;
  if (s.leader()) std::printf("resumed from %s at step %lld\n", directory.c_str(),
                              static_cast<long long>(s.step));
}

}  // namespace

TrainingSummary Trainer::run(const std::optional<std::string>& resume) {
  State& s = *state_;
  const config::JobConfig& j = s.job;
  if (resume) {
    if (j.checkpoint_dir.empty() && *resume == "latest")
      throw InvalidArgument(message(j.file, ": --resume latest needs checkpoint.dir"));
    resume_from(s, *resume);
  }
  const int64_t bytes_before = s.comm.bytes_sent();
  const auto start = Clock::now();
  auto last_progress = start;
  int64_t examples_seen = 0;
  std::vector<float> embedding_grad;
  for (; s.step < j.steps; ++s.step) {
    s.comm.set_step(s.step + 1);
    auto phase = Clock::now();
    std::optional<ExampleBatch> batch = s.train->next();
    // Every rank must stop together: a source that ends early ends the job.
    std::vector<int64_t> exhausted = {batch ? 0 : 1};
    all_reduce<int64_t>(s.comm, exhausted);
    if (exhausted[0] > 0) break;
    if (s.test_stall) s.test_stall->stall_if_due(s.comm.rank(), s.step + 1);
    s.summary.data_seconds += seconds_since(phase);

    const ShardedLookup lookup = s.embeddings->forward(
        {batch->size, batch->sparse_values, batch->sparse_lengths, {}, std::nullopt});
    const StepStats forward_stats = s.embeddings->last_stats();

    phase = Clock::now();
    s.model->zero_gradients();
    embedding_grad.assign(lookup.output.values.size(), 0.0f);
    const double loss = s.model->forward_backward(batch->dense, lookup.output.values,
                                                  batch->labels, batch->size,
                                                  1.0f / static_cast<float>(j.batch_size),
                                                  embedding_grad);
    // Dense parameters are replicated: every rank applies the same summed
    // gradient, so they stay identical.
    all_reduce<float>(s.comm, s.model->gradients());
    std::vector<double> totals = {loss, static_cast<double>(batch->size)};
    all_reduce<double>(s.comm, totals);
    s.dense_optimizer->step(s.model->parameters(), s.model->gradients());
    s.summary.dense_seconds += seconds_since(phase);

    s.embeddings->step(lookup, embedding_grad);
    const StepStats backward_stats = s.embeddings->last_stats();
    s.summary.embedding_exchange_seconds +=
        forward_stats.input_exchange_seconds + forward_stats.output_exchange_seconds;
    s.summary.embedding_compute_seconds +=
        forward_stats.lookup_seconds + backward_stats.backward_seconds;

    s.recent_losses.emplace_back(totals[0], totals[1]);
    if (s.recent_losses.size() > kLossWindowSteps) s.recent_losses.pop_front();
    examples_seen += static_cast<int64_t>(totals[1]);

    const bool last = s.step + 1 == j.steps;
    if (s.leader() && (seconds_since(last_progress) >= j.progress_seconds || last)) {
      last_progress = Clock::now();
      double sum = 0, count = 0;
      for (const auto& [l, n] : s.recent_losses) {
        sum += l;
        count += n;
      }
      const double elapsed = seconds_since(start);
      const double rate = static_cast<double>(examples_seen) / elapsed;
      const double remaining = static_cast<double>(j.steps - s.step - 1) *
                               static_cast<double>(j.batch_size) / std::max(rate, 1e-9);
      std::printf("step %lld/%lld  %.0f examples/s  loss %.5f  eta %s\n",
                  static_cast<long long>(s.step + 1), static_cast<long long>(j.steps), rate,
                  sum / count, format_duration(remaining).c_str());
      std::fflush(stdout);
    }
    if (j.eval_every > 0 && (s.step + 1) % j.eval_every == 0 && !last) {
      evaluate(s);
      if (s.leader())
        std::printf("eval at step %lld: auc %.5f  logloss %.5f\n",
                    static_cast<long long>(s.step + 1), s.summary.eval_auc,
                    s.summary.eval_logloss);
    }
    if (!j.checkpoint_dir.empty() && j.checkpoint_every > 0 &&
        (s.step + 1) % j.checkpoint_every == 0 && !last) {
      ++s.step;  // a checkpoint holds the state after this step
      save_checkpoint(s);
      --s.step;
    }
  }
  const double elapsed = seconds_since(start);
  evaluate(s);
  if (!j.checkpoint_dir.empty()) save_checkpoint(s);

  double sum = 0, count = 0;
  for (const auto& [l, n] : s.recent_losses) {
    sum += l;
    count += n;
  }
  std::vector<int64_t> bytes = {s.comm.bytes_sent() - bytes_before};
  all_reduce<int64_t>(s.comm, bytes);
  s.summary.steps = s.step;
  s.summary.train_logloss = count > 0 ? sum / count : 0;
  s.summary.examples_per_s =
      elapsed > 0 ? static_cast<double>(examples_seen) / elapsed : 0;
  s.summary.bytes_exchanged = bytes[0];
  return s.summary;
}

}  // namespace rowshard
