// Synthetic click logs with a planted signal, for trying the job without
// data and for checking that it learns: a hidden "true" model produces each
// example's click probability, so the best achievable AUC is known.
//
// Every example is a pure function of (seed, stream, example index): ids per
// feature Zipf-skewed over the feature's table rows (low ids hot), dense
// features N(0, 1), and
//
//   logit = bias + signal * (sum_f effect_f(id_f) + sum_j v_j * dense_j)
//   click = uniform(example) < sigmoid(logit)
//
// with v_j drawn N(0, 1/num_dense) from the seed and effect_f(id) drawn
// N(0, 1/F), faded for rarer (higher) ids so that the signal sits where the
// data is, as in real logs. So each rank generates only its own slice of every global
// batch, and the data does not depend on the number of ranks.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "training/data/example_batch.h"

namespace rowshard {

struct SyntheticOptions {
  uint64_t seed = 1;
  int64_t num_dense = 13;
  std::vector<int64_t> rows_per_feature;
  double zipf_alpha = 1.05;
  double signal = 1.0;
  int64_t global_batch_size = 1024;
  int rank = 0;
  int world_size = 1;
};

struct SyntheticExample {
  std::vector<int64_t> ids;  // one per feature
  std::vector<float> dense;
  float label = 0;
  double planted_probability = 0;
};

// The planted model and the example generator behind the sources below.
class PlantedClicks {
 public:
  explicit PlantedClicks(SyntheticOptions options);

  // Example `index` of `stream` (0 trains, 1 evaluates).
  SyntheticExample example(uint64_t stream, int64_t index) const;

  // The same examples in two phases, for making batches without allocating
  // per example. First the dense features of the out.size() / num_dense
  // examples from `first` on, row-major into out: one run of normal draws
  // (they come 32 at a time; an example needs num_dense).
  void dense_features(uint64_t stream, int64_t first, std::span<float> out) const;
  // Then the rest of example `index`, given its dense features: its ids, one
  // per feature f at ids[f * ids_stride], and its label and planted
  // probability.
  struct Outcome {
    float label;
    double planted_probability;
  };
  Outcome complete_example(uint64_t stream, int64_t index, const float* dense, int64_t* ids,
                           int64_t ids_stride) const;

  const SyntheticOptions& options() const { return options_; }

 private:
  double id_effect(int64_t feature, int64_t id) const;
  int64_t skewed_id(double u, int64_t feature) const;

  SyntheticOptions options_;
  std::vector<double> dense_weights_;
  // Per feature, the N(0, 1) draws behind the effects of its hot (lowest)
  // ids, drawn once: normals come 32 at a time, so drawing one per example
  // and feature cost as much as making the rest of the example.
  std::vector<std::vector<float>> hot_effect_draws_;
  // Per feature, (rows + 1)^(1 - alpha): the power law's inverse CDF needs
  // it for every id.
  std::vector<double> power_of_rows_;
};

// Training batches: step s is global examples [s * B, (s + 1) * B) of the
// training stream, of which rank r takes [s * B + r * B / W, s * B + (r + 1) * B / W).
// Endless; position() is the step.
class SyntheticSource final : public BatchSource {
 public:
  explicit SyntheticSource(SyntheticOptions options) : clicks_(std::move(options)) {}
  std::optional<ExampleBatch> next() override;
  std::string position() const override;
  void seek(const std::string& position) override;
  bool endless() const override { return true; }

 private:
  PlantedClicks clicks_;
  int64_t step_ = 0;
};

// This rank's share of `examples` held-out examples (evaluation stream), and
// the planted probabilities of each, for the ceiling AUC.
struct HeldOut {
  ExampleBatch batch;
  std::vector<double> planted_probability;
};
HeldOut synthetic_held_out(const SyntheticOptions& options, int64_t examples);

}  // namespace rowshard
