// The job's evaluation: the model's exact AUC and log loss on every rank's
// held-out examples together, or why there is none.
#pragma once

#include <optional>
#include <span>
#include <string>

#include "rowshard/sharding/communicator.h"
#include "rowshard/sharding/sharded_collection.h"
#include "training/config/job_config.h"
#include "training/data_sources.h"
#include "training/model/dlrm.h"

namespace rowshard {

struct EvaluationResult {
  double logloss = 0;
  // Unset when the held-out examples are all clicks or all non-clicks.
  std::optional<double> auc;
  std::optional<double> planted_auc;  // synthetic data's ceiling, as auc
};

class Evaluation {
 public:
  // Counts every rank's held-out examples and clicks, so that a held-out
  // set without examples or of one class gives a reason instead of a
  // figure. Collective.
  Evaluation(HeldOutSet held_out, const config::JobConfig& job, Communicator& comm);

  // Predicts the held-out set; the metrics are computed on rank 0 and the
  // same on every rank. Unset when unavailable(). Collective.
  std::optional<EvaluationResult> evaluate(ShardedEmbeddingBagCollection& embeddings,
                                           const Dlrm& model,
                                           std::span<const std::string> feature_names) const;

  // Why there is no evaluation (no held-out example on any rank), or no AUC.
  const std::optional<std::string>& unavailable() const { return unavailable_; }
  const std::optional<std::string>& no_auc() const { return no_auc_; }

  // The malformed held-out lines left out, the same on every rank.
  int64_t skipped_lines() const { return held_out_.skipped_lines; }

 private:
  HeldOutSet held_out_;
  bool synthetic_;
  Communicator& comm_;
  std::optional<std::string> unavailable_;
  std::optional<std::string> no_auc_;
};

// "auc 0.71234  logloss 0.51234", or "auc undefined  logloss 0.51234".
std::string describe(const EvaluationResult& result);

}  // namespace rowshard
