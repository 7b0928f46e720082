// The training loop of rowshard-train: a DLRM-style click model whose
// embedding tables are sharded across the ranks of a Communicator, trained
// on synthetic or tab-separated click logs, checkpointed every K steps and
// resumable exactly.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "rowshard/sharding/communicator.h"
#include "training/config/job_config.h"
#include "training/training_summary.h"

namespace rowshard {

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
