// What rowshard-train reports at the end of a job.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

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
  int64_t bytes_exchanged = 0;  // all ranks, embedding exchanges
  // Where the time went, seconds on rank 0.
  double data_seconds = 0;
  double embedding_exchange_seconds = 0;
  double embedding_compute_seconds = 0;
  double dense_seconds = 0;

  // One line of JSON, the job's last line of output.
  std::string to_json() const;
};

}  // namespace rowshard
