// The training loop of rowshard-train: a DLRM-style click model whose
// embedding tables are sharded across the ranks of a Communicator, trained
// on synthetic or tab-separated click logs, checkpointed every K steps and
// resumable exactly.
#pragma once

#include <optional>
#include <string>

#include "rowshard/sharding/communicator.h"
#include "training/config/job_config.h"

namespace rowshard {

struct TrainingSummary {
  int64_t steps = 0;
  double examples_per_s = 0;
  // Mean over the last steps' examples; unset (JSON null) without steps.
  std::optional<double> train_logloss;
  // Unset without held-out examples; the AUC (and the planted one) also
  // when they are all clicks or all non-clicks. JSON null then.
  std::optional<double> eval_logloss;
  std::optional<double> eval_auc;
  std::optional<double> planted_auc;  // the ceiling, for synthetic data
  // Distinct malformed lines left out, all ranks, training and held-out.
  int64_t malformed_lines_skipped = 0;
  int64_t bytes_exchanged = 0;        // all ranks, embedding exchanges
  // Where the time went, seconds on rank 0.
  double data_seconds = 0;
  double embedding_exchange_seconds = 0;
  double embedding_compute_seconds = 0;
  double dense_seconds = 0;

  // One line of JSON, the job's last line of output.
  std::string to_json() const;
};

class Trainer {
 public:
  // Builds the tables (sharded, or loaded from pretrained files), the dense
  // model and the data sources; rank 0 prints the sharding plan. Collective.
  Trainer(config::JobConfig job, Communicator& comm);
  ~Trainer();

  // Trains to job.steps, from the start or from a checkpoint ("latest" or a
  // directory), evaluating and checkpointing as configured; rank 0 prints
  // progress. Collective. Returns the same summary on every rank.
  TrainingSummary run(const std::optional<std::string>& resume);

 // The job's state; internal to trainer.cpp.
  struct State;

 private:
  std::unique_ptr<State> state_;
};

}  // namespace rowshard
