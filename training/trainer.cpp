#include "training/trainer.h"

#include <algorithm>
#include <filesystem>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <nlohmann/json.hpp>
#include <omp.h>
#include <sstream>

#include "rowshard/engine/error.h"
#include "engine/stopwatch.h"
#include "rowshard/io/checkpoint/directory.h"
#include "rowshard/io/checkpoint/history.h"
#include "rowshard/io/checkpoint/restore.h"
#include "rowshard/io/checkpoint/save.h"
#include "rowshard/io/pretrained.h"
#include "rowshard/sharding/auto_planner.h"
#include "rowshard/sharding/collectives.h"
#include "rowshard/sharding/memory_limit.h"
#include "training/data/synthetic.h"
#include "training/data/tsv_held_out.h"
#include "training/data/tsv_reader.h"
#include "training/metrics.h"
#include "training/model/dense_optimizer.h"
#include "training/model/dlrm.h"
#include "training/test_stall.h"

namespace rowshard {
namespace {

// The steps whose losses make up the reported training loss.
constexpr std::size_t kLossWindowSteps = 100;

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

// The plan: each table's own sharding, else the job's; `auto` fills in the
// rest within each rank's memory limit. Whatever chose it, the plan is
// checked against that limit before any table exists, and rank 0 prints it.
std::vector<TableSharding> choose_sharding(const config::JobConfig& j,
                                           const std::vector<CollectionTableConfig>& tables,
                                           Communicator& comm) {
  AutoPlanInputs inputs;
  inputs.world_size = comm.size();
  inputs.limit = memory_limit_per_rank(j.memory_budget_mb << 20, ranks_on_this_machine());
  inputs.batch_size_per_rank = (j.batch_size + comm.size() - 1) / comm.size();
  const bool needs_auto =
      j.sharding == "auto" && std::any_of(j.tables.begin(), j.tables.end(),
                                          [](const config::TableSpec& t) { return !t.sharding; });
  AutoPlan plan;
  if (needs_auto) plan = plan_auto(tables, j.features, inputs);
  plan.sharding.resize(tables.size());
  for (std::size_t t = 0; t < tables.size(); ++t)
    if (j.tables[t].sharding)
      plan.sharding[t] = *j.tables[t].sharding;
    else if (j.sharding != "auto")
      plan.sharding[t] = *sharding_from_name(j.sharding);
  check_plan_fits(tables, plan.sharding, j.features, inputs);
  plan.ranks = plan_bytes(tables, plan.sharding, j.features, inputs);
  if (comm.rank() == 0) std::printf("%s", plan.describe(tables).c_str());
  return plan.sharding;
}

}  // namespace

std::string TrainingSummary::to_json() const {
  const auto or_null = [](const std::optional<double>& value) {
    return value ? nlohmann::ordered_json(*value) : nlohmann::ordered_json(nullptr);
  };
  nlohmann::ordered_json out = {{"steps", steps},
                                {"examples_per_s", examples_per_s},
                                {"train_logloss", or_null(train_logloss)},
                                {"eval_logloss", or_null(eval_logloss)},
                                {"eval_auc", or_null(eval_auc)}};
  if (planted_auc) out["planted_auc"] = *planted_auc;
  out["malformed_lines_skipped"] = malformed_lines_skipped;
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
  // The features in config order: the order of the data sources' batches.
  std::vector<std::string> feature_names;
  std::unique_ptr<ShardedEmbeddingBagCollection> embeddings;
  std::unique_ptr<Dlrm> model;
  std::unique_ptr<DenseOptimizer> dense_optimizer;
  std::unique_ptr<BatchSource> train;
  ExampleBatch eval;
  // Synthetic data: the planted click probability of each held-out example.
  std::vector<float> planted_probability;
  // Why there is no evaluation at all, or no AUC (see check_held_out).
  std::optional<std::string> no_evaluation;
  std::optional<std::string> no_auc;
  int64_t held_out_skipped_lines = 0;
  int64_t num_dense = 0;
  int64_t step = 0;
  // The checkpoint resumed from and the ones saved since, for keep_last.
  checkpoint::CheckpointHistory checkpoints;
  // Per step: the global sum of losses and number of examples.
  std::deque<std::pair<double, double>> recent_losses;
  TrainingSummary summary;
  std::optional<TestStall> test_stall;

  State(config::JobConfig job_config, Communicator& communicator)
      : job(std::move(job_config)), comm(communicator) {}

  bool leader() const { return comm.rank() == 0; }
};

namespace {

std::string quoted_list(const std::vector<std::string>& names) {
  std::string list;
  for (const std::string& name : names) list += (list.empty() ? "'" : ", '") + name + "'";
  return list;
}

// Finds why the held-out set gives no evaluation (no example on any rank)
// or no AUC (one class only), so that neither is reported as a figure.
// Collective.
void check_held_out(Trainer::State& s) {
  std::vector<int64_t> counts = {s.eval.size, 0};  // examples, clicks
  for (float label : s.eval.labels) counts[1] += label > 0.5f ? 1 : 0;
  allreduce_sum<int64_t>(s.comm, counts);
  const std::vector<std::string>& files = s.job.data.tsv.eval_files;
  if (counts[0] == 0 && files.empty()) {
    s.no_evaluation = "data.tsv.eval_files is empty";
  } else if (counts[0] == 0) {
    s.no_evaluation = message("data.tsv.eval_files ", quoted_list(files), " hold no valid line (",
                              s.held_out_skipped_lines, " malformed)");
  } else if (counts[1] == 0 || counts[1] == counts[0]) {
    s.no_auc = message("all ", counts[0], " held-out examples are ",
                       counts[1] == 0 ? "non-clicks" : "clicks");
  }
}

}  // namespace

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

  for (const config::TableSpec& table : j.tables) s.tables.push_back(table.collection);
  const std::vector<TableSharding> sharding = choose_sharding(j, s.tables, comm);
  s.embeddings = std::make_unique<ShardedEmbeddingBagCollection>(comm, s.tables, sharding,
                                                                 j.features);
  for (std::size_t t = 0; t < j.tables.size(); ++t)
    if (j.tables[t].pretrained_path)
      load_pretrained(*s.embeddings, static_cast<int64_t>(t),
                      {*j.tables[t].pretrained_path, j.tables[t].pretrained_tensor},
                      j.tables[t].freeze);

  std::vector<int64_t> rows_per_feature;
  for (const FeatureConfig& feature : j.features) s.feature_names.push_back(feature.name);
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
      TsvHeldOut held_out = tsv_held_out(eval_options, j.eval_examples);
      s.eval = std::move(held_out.batch);
      s.held_out_skipped_lines = held_out.skipped_lines;
    }
  }
  check_held_out(s);

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
  if (s.no_evaluation) return;
  CollectivePhase phase(s.comm, Phase::evaluation);
  const ExampleBatch& eval = s.eval;
  const Tensor pooled = s.embeddings->forward_no_grad(
      {s.feature_names, eval.size, eval.sparse_values, eval.sparse_lengths, {}, std::nullopt});
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
  // from_leader is collective: every rank calls it, whatever is kept.
  auc = from_leader(s.comm, auc);
  s.summary.eval_logloss = from_leader(s.comm, loss);
  planted = from_leader(s.comm, planted);
  if (s.no_auc) return;
  s.summary.eval_auc = auc;
  if (s.job.data.source == "synthetic") s.summary.planted_auc = planted;
}

// "auc 0.71234  logloss 0.51234", "auc undefined" for one class only.
std::string describe_evaluation(const TrainingSummary& summary) {
  char text[64];
  if (summary.eval_auc)
    std::snprintf(text, sizeof text, "auc %.5f  logloss %.5f", *summary.eval_auc,
                  *summary.eval_logloss);
  else
    std::snprintf(text, sizeof text, "auc undefined  logloss %.5f", *summary.eval_logloss);
  return text;
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
  std::vector<double> losses;
  for (const auto& [sum, count] : s.recent_losses) losses.insert(losses.end(), {sum, count});
  extras["recent_losses"] = to_bytes(losses.data(), losses.size() * sizeof(double));
  return extras;
}

void save_checkpoint(Trainer::State& s) {
  CollectivePhase phase(s.comm, Phase::checkpoint_save);
  checkpoint::Extras extras = extras_of(s);  // collective: every rank's position
  checkpoint::save(
      *s.embeddings,
      {s.job.checkpoint_dir, s.step, s.job.keep_last, s.job.effective_yaml, &s.checkpoints},
      extras);
  s.checkpoints.record_save(s.step);
  if (s.leader())
    std::printf("checkpoint: %s\n",
                (std::filesystem::path(s.job.checkpoint_dir) / checkpoint::checkpoint_name(s.step))
                    .c_str());
}

// After a rollback, the later checkpoints of the abandoned timeline stay
// until this run saves their steps (keep_last is not theirs to apply): say so.
void announce_rollback(const Trainer::State& s) {
  std::vector<std::filesystem::path> later;
  for (const std::filesystem::path& other : s.checkpoints.outside_lineage(s.job.checkpoint_dir))
    if (*checkpoint::checkpoint_step(other) > s.step) later.push_back(other);
  if (later.empty()) return;
  std::printf(
      "rolled back: checkpoint.dir '%s' holds %s past step %lld from before the "
      "rollback; this run replaces each as it saves that step\n",
      s.job.checkpoint_dir.c_str(), checkpoint::describe_checkpoints(later).c_str(),
      static_cast<long long>(s.step));
}

void resume_from(Trainer::State& s, const std::string& which) {
  const std::filesystem::path directory = checkpoint::resolve_checkpoint(s.job.checkpoint_dir, which);
  const checkpoint::Manifest manifest = checkpoint::read_manifest(directory);
  const checkpoint::Restored restored =
      checkpoint::restore(*s.embeddings, directory);
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
  s.checkpoints = checkpoint::CheckpointHistory(directory, s.step);
  if (s.leader()) std::printf("resumed from %s at step %lld\n", directory.c_str(),
                              static_cast<long long>(s.step));
  if (s.leader() && !s.job.checkpoint_dir.empty()) announce_rollback(s);
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
  // A finished job resumed again: nothing to train, and its checkpoint is
  // already saved; evaluate and report.
  const bool already_done = resume && s.step >= j.steps;
  if (already_done && s.leader())
    std::printf("the checkpoint at step %lld already reached steps %lld: nothing to train\n",
                static_cast<long long>(s.step), static_cast<long long>(j.steps));
  const int64_t bytes_before = s.comm.bytes_sent();
  const auto start = SteadyClock::now();
  auto last_progress = start;
  int64_t examples_seen = 0;
  std::vector<float> embedding_grad;
  for (; s.step < j.steps; ++s.step) {
    s.comm.set_step(s.step + 1);
    auto phase = SteadyClock::now();
    std::optional<ExampleBatch> batch = s.train->next();
    // Every rank must stop together: a source that ends early ends the job.
    std::vector<int64_t> exhausted = {batch ? 0 : 1};
    all_reduce<int64_t>(s.comm, exhausted);
    if (exhausted[0] > 0) break;
    if (s.test_stall) s.test_stall->stall_if_due(s.comm.rank(), s.step + 1);
    s.summary.data_seconds += seconds_since(phase);

    const CollectionLookup lookup = s.embeddings->forward(
        {s.feature_names, batch->size, batch->sparse_values, batch->sparse_lengths, {}, std::nullopt});
    const StepStats forward_stats = s.embeddings->last_stats();

    phase = SteadyClock::now();
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
      last_progress = SteadyClock::now();
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
    if (j.eval_every > 0 && (s.step + 1) % j.eval_every == 0 && !last && !s.no_evaluation) {
      evaluate(s);
      if (s.leader())
        std::printf("eval at step %lld: %s\n", static_cast<long long>(s.step + 1),
                    describe_evaluation(s.summary).c_str());
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
  if (s.leader() && s.no_evaluation) std::printf("no evaluation: %s\n", s.no_evaluation->c_str());
  if (s.leader() && s.no_auc) std::printf("eval AUC undefined: %s\n", s.no_auc->c_str());
  if (!j.checkpoint_dir.empty() && !already_done) save_checkpoint(s);

  double sum = 0, count = 0;
  for (const auto& [l, n] : s.recent_losses) {
    sum += l;
    count += n;
  }
  // All ranks': bytes sent, training lines skipped.
  std::vector<int64_t> totals = {s.comm.bytes_sent() - bytes_before, s.train->skipped_lines()};
  all_reduce<int64_t>(s.comm, totals);
  s.summary.steps = s.step;
  if (count > 0) s.summary.train_logloss = sum / count;
  s.summary.examples_per_s =
      elapsed > 0 ? static_cast<double>(examples_seen) / elapsed : 0;
  s.summary.bytes_exchanged = totals[0];
  // Every rank read the same held-out lines: they count once.
  s.summary.malformed_lines_skipped = totals[1] + s.held_out_skipped_lines;
  return s.summary;
}

}  // namespace rowshard
