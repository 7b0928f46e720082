// Evaluation metrics of a click model.
#pragma once

#include <span>

namespace rowshard {

// Exact ROC AUC: the probability that a random positive example scores
// above a random negative one, ties counting one half (the Mann-Whitney
// statistic from average ranks). NaN when either class is absent.
double exact_auc(std::span<const float> scores, std::span<const float> labels);

// Mean binary cross-entropy of probabilities, clamped to [1e-7, 1 - 1e-7].
double log_loss(std::span<const float> probabilities, std::span<const float> labels);

}  // namespace rowshard
