#include "training/trainer.h"

#include <omp.h>
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "engine/stopwatch.h"
#include "rowshard/engine/error.h"
#include "rowshard/io/checkpoint/directory.h"
#include "rowshard/io/checkpoint/history.h"
#include "rowshard/io/checkpoint/restore.h"
#include "rowshard/io/checkpoint/save.h"
#include "rowshard/io/pretrained.h"
#include "rowshard/sharding/collectives.h"
#include "rowshard/sharding/memory_limit.h"
#include "training/checkpoint_extras.h"
#include "training/data_sources.h"
#include "training/device_choice.h"
#include "training/evaluation.h"
#include "training/model/dense_optimizer.h"
#include "training/model/dlrm.h"
#include "training/progress.h"
#include "training/sharding_choice.h"
#include "training/test_stall.h"
#include "training/thread_binding.h"

namespace rowshard {

struct Trainer::State {
  config::JobConfig job;
  Communicator& comm;
  // The features in config order: the order of the data sources' batches.
  std::vector<std::string> feature_names;
  std::unique_ptr<ShardedEmbeddingBagCollection> embeddings;
  std::unique_ptr<Dlrm> model;
  std::unique_ptr<DenseOptimizer> dense_optimizer;
  std::unique_ptr<BatchSource> train;
  std::unique_ptr<Evaluation> evaluation;
  int64_t step = 0;
  // The checkpoint resumed from and the ones saved since, for keep_last.
  checkpoint::CheckpointHistory checkpoints;
  RecentLosses recent_losses;
  // Each step's gradient of the pooled embeddings, kept to reuse its memory.
  std::vector<float> embedding_grad;
  TrainingSummary summary;
  std::optional<TestStall> test_stall;
  DeviceChoice device;
  // The tables' exchanges over NCCL, when every rank has a GPU of its own;
  // otherwise they go over `comm`.
  std::unique_ptr<Communicator> nccl;

  State(config::JobConfig job_config, Communicator& communicator)
      : job(std::move(job_config)), comm(communicator) {}

  bool leader() const { return comm.rank() == 0; }
  Communicator& exchange() { return nccl ? *nccl : comm; }
  // Bytes this rank has sent, over both communicators.
  int64_t bytes_sent() const { return comm.bytes_sent() + (nccl ? nccl->bytes_sent() : 0); }
};

namespace {

using State = Trainer::State;

// allreduce_sum, named for the collective watchdog's message.
template <typename T>
void all_reduce(Communicator& comm, std::span<T> values) {
  CollectivePhase phase(comm, Phase::all_reduce);
  allreduce_sum<T>(comm, values);
}

void set_up_runtime(State& s) {
  const config::JobConfig& j = s.job;
  if (j.threads > 0) omp_set_num_threads(j.threads);
  if (const std::optional<std::string> warning =
          thread_binding_warning(s.comm.rank(), omp_get_max_threads(), allowed_cpus()))
    std::fprintf(stderr, "%s\n", warning->c_str());
  s.comm.set_timeout(j.comm_timeout_s);
  s.device = select_rank_device(j);
  if (s.leader() && j.device == Device::cuda)
    std::printf("device: cuda, rank 0 on %s\n",
                describe(s.device, ranks_on_this_machine(), cuda_device_count()).c_str());
  s.nccl = device_exchange(j, s.device, s.comm);
  s.test_stall = test_stall_from_environment();
  if (j.batch_size < s.comm.size())
    throw InvalidArgument(message(j.file, ": batch_size ", j.batch_size, " is smaller than the ",
                                  s.comm.size(), " ranks"));
}

// The tables, sharded as planned, with the pretrained ones loaded.
void build_embeddings(State& s) {
  const config::JobConfig& j = s.job;
  std::vector<CollectionTableConfig> tables;
  for (const config::TableSpec& table : j.tables) {
    tables.push_back(table.collection);
    tables.back().table.device = j.device;
  }
  for (const FeatureConfig& feature : j.features) s.feature_names.push_back(feature.name);
  const std::vector<TableSharding> sharding = choose_sharding(j, tables, s.comm);
  s.embeddings =
      std::make_unique<ShardedEmbeddingBagCollection>(s.exchange(), tables, sharding, j.features);
  for (std::size_t t = 0; t < j.tables.size(); ++t)
    if (j.tables[t].pretrained_path)
      load_pretrained(*s.embeddings, static_cast<int64_t>(t),
                      {*j.tables[t].pretrained_path, j.tables[t].pretrained_tensor},
                      j.tables[t].freeze);
}

void build_dense_model(State& s, int64_t num_dense) {
  const config::JobConfig& j = s.job;
  DlrmConfig model;
  model.num_dense = num_dense;
  model.num_sparse = static_cast<int64_t>(j.features.size());
  model.embedding_dim = j.tables.front().collection.table.embedding_dim;
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

}  // namespace

Trainer::~Trainer() = default;

Trainer::Trainer(config::JobConfig job, Communicator& comm)
    : state_(std::make_unique<State>(std::move(job), comm)) {
  State& s = *state_;
  set_up_runtime(s);
  build_embeddings(s);
  DataSources data = open_data_sources(s.job, comm);
  s.train = std::move(data.train);
  s.evaluation = std::make_unique<Evaluation>(std::move(data.held_out), s.job, comm);
  build_dense_model(s, data.num_dense);
}

namespace {

// The checkpoint of the state after `step` steps. Collective: every rank
// contributes its data position.
void save_checkpoint(State& s, int64_t step) {
  CollectivePhase phase(s.comm, Phase::checkpoint_save);
  TrainerExtras extras;
  extras.dense_parameters.assign(s.model->parameters().begin(), s.model->parameters().end());
  extras.dense_optimizer_state.assign(s.dense_optimizer->state().begin(),
                                      s.dense_optimizer->state().end());
  extras.dense_optimizer_steps = s.dense_optimizer->steps();
  extras.data_positions = allgather_text(s.comm, s.train->position());
  extras.recent_losses = s.recent_losses.steps();
  checkpoint::save(
      *s.embeddings,
      {s.job.checkpoint_dir, step, s.job.keep_last, s.job.effective_yaml, &s.checkpoints},
      encode_extras(extras));
  s.checkpoints.record_save(step);
  if (s.leader())
    std::printf(
        "checkpoint: %s\n",
        (std::filesystem::path(s.job.checkpoint_dir) / checkpoint::checkpoint_name(step)).c_str());
}

// After a rollback, the later checkpoints of the abandoned timeline stay
// until this run saves their steps (keep_last is not theirs to apply): say so.
void announce_rollback(const State& s) {
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

// Puts this rank's data stream where the checkpoint's left off. Synthetic
// data's position is a global step, so it resumes at any number of ranks.
void seek_data(State& s, const std::vector<std::string>& positions,
               const std::filesystem::path& directory, int saved_world_size) {
  if (static_cast<int>(positions.size()) == s.comm.size()) {
    s.train->seek(positions[s.comm.rank()]);
  } else if (s.job.data.source == "synthetic") {
    s.train->seek(positions.at(0));
  } else {
    throw InvalidArgument(
        message("checkpoint '", directory.string(), "' was saved by ", saved_world_size,
                " ranks; tab-separated data splits lines by rank, so resume it with ",
                saved_world_size, " ranks"));
  }
}

void resume_from(State& s, const std::string& which) {
  if (s.job.checkpoint_dir.empty() && which == "latest")
    throw InvalidArgument(message(s.job.file, ": --resume latest needs checkpoint.dir"));
  const std::filesystem::path directory =
      checkpoint::resolve_checkpoint(s.job.checkpoint_dir, which);
  const checkpoint::Manifest manifest = checkpoint::read_manifest(directory);
  const checkpoint::Restored restored = checkpoint::restore(*s.embeddings, directory);
  const TrainerExtras extras =
      decode_extras(restored.extras, directory.string(), s.model->parameters().size(),
                    s.dense_optimizer->state().size());
  std::ranges::copy(extras.dense_parameters, s.model->parameters().begin());
  std::ranges::copy(extras.dense_optimizer_state, s.dense_optimizer->state().begin());
  s.dense_optimizer->set_steps(extras.dense_optimizer_steps);
  s.recent_losses.restore(extras.recent_losses);
  seek_data(s, extras.data_positions, directory, manifest.world_size);
  s.step = restored.step;
  s.checkpoints = checkpoint::CheckpointHistory(directory, s.step);
  if (s.leader())
    std::printf("resumed from %s at step %lld\n", directory.c_str(),
                static_cast<long long>(s.step));
  if (s.leader() && !s.job.checkpoint_dir.empty()) announce_rollback(s);
}

// This rank's next batch, or nullopt on every rank once any rank's source
// has ended: every rank must stop together.
std::optional<ExampleBatch> next_batch(State& s) {
  const auto start = SteadyClock::now();
  std::optional<ExampleBatch> batch = s.train->next();
  if (!s.train->endless()) {
    std::vector<int64_t> exhausted = {batch ? 0 : 1};
    all_reduce<int64_t>(s.comm, exhausted);
    if (exhausted[0] > 0) return std::nullopt;
  }
  if (s.test_stall) s.test_stall->stall_if_due(s.comm.rank(), s.step + 1);
  s.summary.data_seconds += seconds_since(start);
  return batch;
}

// One step of every model part on `batch`; returns the step's loss summed
// over all ranks' examples.
RecentLosses::Step train_step(State& s, const ExampleBatch& batch) {
  const CollectionLookup lookup = s.embeddings->forward(
      {s.feature_names, batch.size, batch.sparse_values, batch.sparse_lengths, {}, std::nullopt});
  const StepStats forward_stats = s.embeddings->last_stats();

  const auto dense_start = SteadyClock::now();
  s.model->zero_gradients();
  s.embedding_grad.resize(lookup.output.values.size());  // forward_backward overwrites it
  const double loss =
      s.model->forward_backward(batch.dense, lookup.output.values, batch.labels, batch.size,
                                1.0f / static_cast<float>(s.job.batch_size), s.embedding_grad);
  // Dense parameters are replicated: every rank applies the same summed
  // gradient, so they stay identical.
  all_reduce<float>(s.comm, s.model->gradients());
  std::vector<double> totals = {loss, static_cast<double>(batch.size)};
  all_reduce<double>(s.comm, totals);
  s.dense_optimizer->step(s.model->parameters(), s.model->gradients());
  s.summary.dense_seconds += seconds_since(dense_start);

  s.embeddings->step(lookup, s.embedding_grad);
  const StepStats backward_stats = s.embeddings->last_stats();
  s.summary.embedding_exchange_seconds +=
      forward_stats.input_exchange_seconds + forward_stats.output_exchange_seconds;
  s.summary.embedding_compute_seconds +=
      forward_stats.lookup_seconds + backward_stats.backward_seconds;
  return {totals[0], totals[1]};
}

std::optional<EvaluationResult> evaluate(const State& s) {
  return s.evaluation->evaluate(*s.embeddings, *s.model, s.feature_names);
}

// Trains from s.step to job.steps, or until the data ends, with the
// evaluations, checkpoints and progress lines due between steps.
void train(State& s, ProgressReport& progress) {
  const config::JobConfig& j = s.job;
  for (; s.step < j.steps; ++s.step) {
    s.comm.set_step(s.step + 1);
    if (s.nccl) s.nccl->set_step(s.step + 1);
    const std::optional<ExampleBatch> batch = next_batch(s);
    if (!batch) break;
    const RecentLosses::Step losses = train_step(s, *batch);
    s.recent_losses.add(losses);
    progress.count(static_cast<int64_t>(losses.examples));

    const int64_t done = s.step + 1;
    // The last step's evaluation and checkpoint come after the loop.
    const bool last = done == j.steps;
    if (s.leader()) progress.print_if_due(done, s.recent_losses);
    if (j.eval_every > 0 && done % j.eval_every == 0 && !last && !s.evaluation->unavailable()) {
      const std::optional<EvaluationResult> result = evaluate(s);
      if (s.leader())
        std::printf("eval at step %lld: %s\n", static_cast<long long>(done),
                    describe(*result).c_str());
    }
    if (!j.checkpoint_dir.empty() && j.checkpoint_every > 0 && done % j.checkpoint_every == 0 &&
        !last)
      save_checkpoint(s, done);
  }
}

// The last evaluation, and the last checkpoint unless a finished job was
// resumed (its checkpoint is already saved).
void finish(State& s, bool already_done) {
  if (const std::optional<EvaluationResult> result = evaluate(s)) {
    s.summary.eval_logloss = result->logloss;
    s.summary.eval_auc = result->auc;
    s.summary.planted_auc = result->planted_auc;
  }
  if (s.leader() && s.evaluation->unavailable())
    std::printf("no evaluation: %s\n", s.evaluation->unavailable()->c_str());
  if (s.leader() && s.evaluation->no_auc())
    std::printf("eval AUC undefined: %s\n", s.evaluation->no_auc()->c_str());
  if (!s.job.checkpoint_dir.empty() && !already_done) save_checkpoint(s, s.step);
}

// Completes the summary with the totals over all ranks. Collective.
TrainingSummary summarize(State& s, int64_t bytes_before) {
  std::vector<int64_t> totals = {s.bytes_sent() - bytes_before, s.train->skipped_lines()};
  all_reduce<int64_t>(s.comm, totals);
  s.summary.steps = s.step;
  s.summary.train_logloss = s.recent_losses.mean();
  s.summary.bytes_exchanged = totals[0];
  // Every rank read the same held-out lines: they count once.
  s.summary.malformed_lines_skipped = totals[1] + s.evaluation->skipped_lines();
  return s.summary;
}

}  // namespace

TrainingSummary Trainer::run(const std::optional<std::string>& resume) {
  State& s = *state_;
  if (resume) resume_from(s, *resume);
  const bool already_done = resume && s.step >= s.job.steps;
  if (already_done && s.leader())
    std::printf("the checkpoint at step %lld already reached steps %lld: nothing to train\n",
                static_cast<long long>(s.step), static_cast<long long>(s.job.steps));
  const int64_t bytes_before = s.bytes_sent();
  ProgressReport progress(s.job.steps, s.job.batch_size, s.job.progress_seconds);
  train(s, progress);
  s.summary.examples_per_s = progress.examples_per_second();
  finish(s, already_done);
  return summarize(s, bytes_before);
}

}  // namespace rowshard
