#include "training/data/synthetic.h"

#include <algorithm>
#include <cmath>

#include "engine/counter_hash.h"
#include "engine/normal_init.h"
#include "rowshard/engine/error.h"

namespace rowshard {
namespace {

constexpr double kBias = -1.0;
// Ids beyond about this many have faded effects (see id_effect).
constexpr double kEffectFadeIds = 50.0;
// The ids whose effect draws are kept, per feature: with Zipf 1.05 ids over
// a million rows, most of the ids drawn; 256 KiB a feature.
constexpr int64_t kHotIds = int64_t{1} << 16;

// Keys of the independent random streams, mixed with the seed.
constexpr uint64_t kIdStream = 0x1d;
constexpr uint64_t kDenseStream = 0xde;
constexpr uint64_t kClickStream = 0xc1;
constexpr uint64_t kEffectStream = 0xef;

// Feature f's effects are draws 0, 1, ... (one per id) of this stream.
uint64_t effect_stream(uint64_t seed, int64_t feature) {
  return seed ^ (kEffectStream + static_cast<uint64_t>(feature));
}

double unit(uint64_t bits) { return (static_cast<double>(bits >> 11) + 0.5) * 0x1.0p-53; }

}  // namespace

double PlantedClicks::id_effect(int64_t feature, int64_t id) const {
  // Effects fade with the id: frequent (low) ids carry most of the signal,
  // as popular items do in real logs, so a model that has seen the data can
  // get close to the planted ceiling instead of chasing ids seen once.
  const double fade = 1.0 / std::sqrt(1.0 + static_cast<double>(id) / kEffectFadeIds);
  const std::vector<float>& hot = hot_effect_draws_[feature];
  const float draw =
      id < static_cast<int64_t>(hot.size())
          ? hot[id]
          : standard_normal_at(effect_stream(options_.seed, feature), static_cast<uint64_t>(id));
  return fade * draw;
}

// A Zipf-like id over [0, rows): the inverse CDF of the continuous power law
// p(x) ~ x^-alpha on [1, rows + 1), so low ids are the hot ones.
int64_t PlantedClicks::skewed_id(double u, int64_t feature) const {
  const int64_t rows = options_.rows_per_feature[feature];
  const double n = static_cast<double>(rows) + 1.0;
  const double alpha = options_.zipf_alpha;
  double x;
  if (std::fabs(alpha - 1.0) < 1e-9) {
    x = std::pow(n, u);
  } else {
    const double e = 1.0 - alpha;
    x = std::pow((power_of_rows_[feature] - 1.0) * u + 1.0, 1.0 / e);
  }
  return std::clamp<int64_t>(static_cast<int64_t>(x) - 1, 0, rows - 1);
}

PlantedClicks::PlantedClicks(SyntheticOptions options) : options_(std::move(options)) {
  if (options_.rows_per_feature.empty())
    throw InvalidArgument("synthetic data needs at least one sparse feature");
  for (int64_t j = 0; j < options_.num_dense; ++j)
    dense_weights_.push_back(standard_normal_at(options_.seed ^ kDenseStream, j) /
                             std::sqrt(static_cast<double>(options_.num_dense)));
  const auto features = static_cast<int64_t>(options_.rows_per_feature.size());
  for (int64_t f = 0; f < features; ++f) {
    hot_effect_draws_.emplace_back(std::min(kHotIds, options_.rows_per_feature[f]));
    standard_normals(hot_effect_draws_.back(), effect_stream(options_.seed, f), 0);
    power_of_rows_.push_back(std::pow(static_cast<double>(options_.rows_per_feature[f]) + 1.0,
                                      1.0 - options_.zipf_alpha));
  }
}

void PlantedClicks::dense_features(uint64_t stream, int64_t first, std::span<float> out) const {
  const uint64_t key = counter_hash(options_.seed, stream);
  standard_normals(out, key ^ kDenseStream, static_cast<uint64_t>(first * options_.num_dense));
}

PlantedClicks::Outcome PlantedClicks::complete_example(uint64_t stream, int64_t index,
                                                       const float* dense, int64_t* ids,
                                                       int64_t ids_stride) const {
  const uint64_t key = counter_hash(options_.seed, stream);
  const auto features = static_cast<int64_t>(options_.rows_per_feature.size());
  const double sqrt_features = std::sqrt(static_cast<double>(features));
  double logit = 0.0;
  for (int64_t j = 0; j < options_.num_dense; ++j) logit += dense_weights_[j] * dense[j];
  for (int64_t f = 0; f < features; ++f) {
    const double u =
        unit(counter_hash(key ^ kIdStream, static_cast<uint64_t>(index * features + f)));
    const int64_t id = skewed_id(u, f);
    ids[f * ids_stride] = id;
    logit += id_effect(f, id) / sqrt_features;
  }
  const double probability = 1.0 / (1.0 + std::exp(-(kBias + options_.signal * logit)));
  const float label =
      unit(counter_hash(key ^ kClickStream, static_cast<uint64_t>(index))) < probability ? 1.0f
                                                                                         : 0.0f;
  return {label, probability};
}

SyntheticExample PlantedClicks::example(uint64_t stream, int64_t index) const {
  SyntheticExample example;
  example.dense.resize(options_.num_dense);
  example.ids.resize(options_.rows_per_feature.size());
  dense_features(stream, index, example.dense);
  const Outcome outcome =
      complete_example(stream, index, example.dense.data(), example.ids.data(), 1);
  example.label = outcome.label;
  example.planted_probability = outcome.planted_probability;
  return example;
}

namespace {

// Examples a thread makes in one go: their dense features are one run of
// normal draws.
constexpr int64_t kExamplesPerRun = 64;

// Examples [first, end) of `stream` as one batch (one id per feature each),
// made on the OpenMP threads: each example is a pure function of its index
// and goes to its own place, so the batch is the same for any thread count.
ExampleBatch make_batch(const PlantedClicks& clicks, uint64_t stream, int64_t first, int64_t end,
                        std::vector<double>* probabilities) {
  const auto features = static_cast<int64_t>(clicks.options().rows_per_feature.size());
  const int64_t num_dense = clicks.options().num_dense;
  ExampleBatch batch;
  batch.size = end - first;
  batch.labels.resize(batch.size);
  batch.dense.resize(batch.size * num_dense);
  batch.sparse_values.resize(features * batch.size);
  batch.sparse_lengths.assign(features * batch.size, 1);
  if (probabilities) probabilities->resize(batch.size);
  const int64_t runs = (batch.size + kExamplesPerRun - 1) / kExamplesPerRun;
#pragma omp parallel for schedule(static)
  for (int64_t run = 0; run < runs; ++run) {
    const int64_t run_first = run * kExamplesPerRun;
    const int64_t run_end = std::min(batch.size, run_first + kExamplesPerRun);
    float* dense = batch.dense.data() + run_first * num_dense;
    clicks.dense_features(stream, first + run_first,
                          {dense, static_cast<std::size_t>((run_end - run_first) * num_dense)});
    for (int64_t b = run_first; b < run_end; ++b) {
      const PlantedClicks::Outcome outcome =
          clicks.complete_example(stream, first + b, batch.dense.data() + b * num_dense,
                                  batch.sparse_values.data() + b, batch.size);
      batch.labels[b] = outcome.label;
      if (probabilities) (*probabilities)[b] = outcome.planted_probability;
    }
  }
  return batch;
}

}  // namespace

std::optional<ExampleBatch> SyntheticSource::next() {
  const SyntheticOptions& o = clicks_.options();
  const int64_t base = step_ * o.global_batch_size;
  const int64_t first = base + o.global_batch_size * o.rank / o.world_size;
  const int64_t end = base + o.global_batch_size * (o.rank + 1) / o.world_size;
  ++step_;
  return make_batch(clicks_, 0, first, end, nullptr);
}

std::string SyntheticSource::position() const { return std::to_string(step_); }

void SyntheticSource::seek(const std::string& position) {
  try {
    std::size_t used = 0;
    const long long step = std::stoll(position, &used);
    if (used == position.size() && step >= 0) {
      step_ = step;
      return;
    }
  } catch (const std::exception&) {
  }
  throw InvalidArgument(message("synthetic data: '", position, "' is not a position (a step)"));
}

HeldOut synthetic_held_out(const SyntheticOptions& options, int64_t examples) {
  const PlantedClicks clicks(options);
  HeldOut held_out;
  const int64_t first = examples * options.rank / options.world_size;
  const int64_t end = examples * (options.rank + 1) / options.world_size;
  held_out.batch = make_batch(clicks, 1, first, end, &held_out.planted_probability);
  return held_out;
}

}  // namespace rowshard
