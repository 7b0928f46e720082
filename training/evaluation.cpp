#include "training/evaluation.h"

#include <cstdio>

#include "rowshard/engine/error.h"
#include "rowshard/sharding/collectives.h"
#include "training/metrics.h"

namespace rowshard {
namespace {

std::string quoted_list(const std::vector<std::string>& names) {
  std::string list;
  for (const std::string& name : names) list += (list.empty() ? "'" : ", '") + name + "'";
  return list;
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

}  // namespace

Evaluation::Evaluation(HeldOutSet held_out, const config::JobConfig& job, Communicator& comm)
    : held_out_(std::move(held_out)), synthetic_(job.data.source == "synthetic"), comm_(comm) {
  std::vector<int64_t> counts = {held_out_.batch.size, 0};  // examples, clicks
  for (float label : held_out_.batch.labels) counts[1] += label > 0.5f ? 1 : 0;
  allreduce_sum<int64_t>(comm_, counts);
  const std::vector<std::string>& files = job.data.tsv.eval_files;
  if (counts[0] == 0 && files.empty()) {
    unavailable_ = "data.tsv.eval_files is empty";
  } else if (counts[0] == 0) {
    unavailable_ = message("data.tsv.eval_files ", quoted_list(files), " hold no valid line (",
                           held_out_.skipped_lines, " malformed)");
  } else if (counts[1] == 0 || counts[1] == counts[0]) {
    no_auc_ = message("all ", counts[0], " held-out examples are ",
                      counts[1] == 0 ? "non-clicks" : "clicks");
  }
}

std::optional<EvaluationResult> Evaluation::evaluate(
    ShardedEmbeddingBagCollection& embeddings, const Dlrm& model,
    std::span<const std::string> feature_names) const {
  if (unavailable_) return std::nullopt;
  CollectivePhase phase(comm_, Phase::evaluation);
  const ExampleBatch& eval = held_out_.batch;
  const Tensor pooled = embeddings.forward_no_grad(
      {feature_names, eval.size, eval.sparse_values, eval.sparse_lengths, {}, std::nullopt});
  const std::vector<float> predictions = model.predict(eval.dense, pooled.values, eval.size);
  const std::vector<float> all_predictions = gather_on_leader(comm_, predictions);
  const std::vector<float> all_labels = gather_on_leader(comm_, eval.labels);
  const std::vector<float> all_planted = gather_on_leader(comm_, held_out_.planted_probability);
  double auc = 0, loss = 0, planted = 0;
  if (comm_.rank() == 0) {
    auc = exact_auc(all_predictions, all_labels);
    loss = log_loss(all_predictions, all_labels);
    if (!all_planted.empty()) planted = exact_auc(all_planted, all_labels);
  }
  // from_leader is collective: every rank calls it, whatever is kept.
  EvaluationResult result;
  auc = from_leader(comm_, auc);
  result.logloss = from_leader(comm_, loss);
  planted = from_leader(comm_, planted);
  if (no_auc_) return result;
  result.auc = auc;
  if (synthetic_) result.planted_auc = planted;
  return result;
}

std::string describe(const EvaluationResult& result) {
  char text[64];
  if (result.auc)
    std::snprintf(text, sizeof text, "auc %.5f  logloss %.5f", *result.auc, result.logloss);
  else
    std::snprintf(text, sizeof text, "auc undefined  logloss %.5f", result.logloss);
  return text;
}

}  // namespace rowshard
