#include "training/training_summary.h"

#include <nlohmann/json.hpp>

namespace rowshard {

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

}  // namespace rowshard
