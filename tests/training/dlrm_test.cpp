// The DLRM dense model against a plain double-precision implementation
// written here from the header's description: its loss, the gradient of
// every parameter and every embedding input (by central differences of that
// reference), the interaction's pair order, bitwise determinism and the
// refusal of bad input.
#include "training/model/dlrm.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <random>

#include "rowshard/engine/error.h"
#include "tests/engine/skip_levels_this_cpu_lacks.h"
#include "training/model/batch_chunks.h"

namespace rowshard {
namespace {

DlrmConfig small_config() {
  return {.num_dense = 3,
          .num_sparse = 2,
          .embedding_dim = 4,
          .bottom_mlp = {5},
          .top_mlp = {6, 3},
          .seed = 11};
}

// No dense features: no bottom MLP, the interaction is the dots alone.
DlrmConfig dense_free_config() {
  return {.num_dense = 0, .num_sparse = 3, .embedding_dim = 4, .top_mlp = {6, 3}, .seed = 12};
}

// One batch of inputs, uniform in [-1, 1), with labels 0, 1 and a soft one.
struct Batch {
  int64_t size;
  std::vector<float> dense;
  std::vector<float> embeddings;
  std::vector<float> labels;
};

Batch random_batch(const DlrmConfig& config, int64_t size, uint64_t seed) {
  std::mt19937_64 generator(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  Batch batch{size, {}, {}, {}};
  for (int64_t i = 0; i < size * config.num_dense; ++i) batch.dense.push_back(uniform(generator));
  for (int64_t i = 0; i < size * config.num_sparse * config.embedding_dim; ++i)
    batch.embeddings.push_back(uniform(generator));
  const float labels[] = {0.0f, 1.0f, 1.0f, 0.3f};
  for (int64_t b = 0; b < size; ++b) batch.labels.push_back(labels[b % 4]);
  return batch;
}

// The reference: loops in double, the layout as the header documents it.
struct ReferenceLayer {
  int64_t in;
  int64_t out;
  bool relu;
};

bool has_bottom(const DlrmConfig& config) { return config.num_dense > 0; }

std::vector<ReferenceLayer> reference_layers(const DlrmConfig& config) {
  std::vector<ReferenceLayer> layers;
  int64_t width = config.num_dense;
  for (int64_t hidden : config.bottom_mlp) {
    layers.push_back({width, hidden, true});
    width = hidden;
  }
  if (has_bottom(config)) layers.push_back({width, config.embedding_dim, true});
  const int64_t vectors = config.num_sparse + (has_bottom(config) ? 1 : 0);
  width = (has_bottom(config) ? config.embedding_dim : 0) + vectors * (vectors - 1) / 2;
  for (int64_t hidden : config.top_mlp) {
    layers.push_back({width, hidden, true});
    width = hidden;
  }
  layers.push_back({width, 1, false});
  return layers;
}

// in -> out, W [out, in] then b [out] starting at parameters[offset].
std::vector<double> reference_linear(const ReferenceLayer& layer,
                                     const std::vector<double>& parameters, std::size_t& offset,
                                     const std::vector<double>& input) {
  std::vector<double> output(layer.out);
  for (int64_t o = 0; o < layer.out; ++o) {
    double sum = parameters[offset + layer.out * layer.in + o];
    for (int64_t i = 0; i < layer.in; ++i) sum += parameters[offset + o * layer.in + i] * input[i];
    output[o] = layer.relu ? std::max(sum, 0.0) : sum;
  }
  offset += layer.out * layer.in + layer.out;
  return output;
}

std::vector<double> reference_logits(const DlrmConfig& config,
                                     const std::vector<double>& parameters,
                                     const std::vector<double>& dense,
                                     const std::vector<double>& embeddings, int64_t batch_size) {
  const std::vector<ReferenceLayer> layers = reference_layers(config);
  const int64_t num_bottom =
      has_bottom(config) ? static_cast<int64_t>(config.bottom_mlp.size()) + 1 : 0;
  const int64_t dim = config.embedding_dim;
  std::vector<double> logits;
  for (int64_t b = 0; b < batch_size; ++b) {
    std::size_t offset = 0;
    std::vector<double> activation(dense.begin() + b * config.num_dense,
                                   dense.begin() + (b + 1) * config.num_dense);
    for (int64_t k = 0; k < num_bottom; ++k)
      activation = reference_linear(layers[k], parameters, offset, activation);

    std::vector<std::vector<double>> vectors;
    if (has_bottom(config)) vectors.push_back(activation);
    for (int64_t f = 0; f < config.num_sparse; ++f) {
      auto begin = embeddings.begin() + (b * config.num_sparse + f) * dim;
      vectors.emplace_back(begin, begin + dim);
    }
    std::vector<double> z = has_bottom(config) ? activation : std::vector<double>();
    for (std::size_t i = 0; i < vectors.size(); ++i)
      for (std::size_t j = i + 1; j < vectors.size(); ++j) {
        double dot = 0.0;
        for (int64_t d = 0; d < dim; ++d) dot += vectors[i][d] * vectors[j][d];
        z.push_back(dot);
      }

    activation = z;
    for (std::size_t k = num_bottom; k < layers.size(); ++k)
      activation = reference_linear(layers[k], parameters, offset, activation);
    logits.push_back(activation[0]);
  }
  return logits;
}

// Sum over the batch of the textbook -(y log p + (1 - y) log(1 - p)).
double reference_loss(const DlrmConfig& config, const std::vector<double>& parameters,
                      const std::vector<double>& dense, const std::vector<double>& embeddings,
                      const std::vector<float>& labels) {
  const std::vector<double> logits =
      reference_logits(config, parameters, dense, embeddings, static_cast<int64_t>(labels.size()));
  double sum = 0.0;
  for (std::size_t b = 0; b < labels.size(); ++b) {
    const double p = 1.0 / (1.0 + std::exp(-logits[b]));
    sum -= labels[b] * std::log(p) + (1.0 - labels[b]) * std::log(1.0 - p);
  }
  return sum;
}

std::vector<double> to_double(std::span<const float> values) {
  return {values.begin(), values.end()};
}

int64_t count_parameters(const DlrmConfig& config) {
  int64_t count = 0;
  for (const ReferenceLayer& layer : reference_layers(config))
    count += layer.out * layer.in + layer.out;
  return count;
}

TEST(Dlrm, LayoutAndInitialisationAreAsDocumented) {
  const DlrmConfig config = small_config();
  Dlrm model(config);
  ASSERT_EQ(model.num_parameters(), count_parameters(config));
  EXPECT_EQ(model.interaction_width(), 4 + 3);
  std::size_t offset = 0;
  for (const ReferenceLayer& layer : reference_layers(config)) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(layer.in));
    for (int64_t i = 0; i < layer.out * layer.in; ++i) {
      const float w = model.parameters()[offset + i];
      EXPECT_LE(std::fabs(w), bound) << "weight " << offset + i;
      EXPECT_NE(w, 0.0f) << "weight " << offset + i;
    }
    offset += layer.out * layer.in;
    for (int64_t o = 0; o < layer.out; ++o)
      EXPECT_EQ(model.parameters()[offset + o], 0.0f) << "bias " << offset + o;
    offset += layer.out;
  }
  for (float g : model.gradients()) EXPECT_EQ(g, 0.0f);
}

TEST(Dlrm, WithoutDenseFeaturesThereIsNoBottomMlp) {
  const DlrmConfig config = dense_free_config();
  Dlrm model(config);
  EXPECT_EQ(model.interaction_width(), 3);  // pairs (0,1) (0,2) (1,2)
  // Top: 3 -> 6 -> 3 -> 1.
  EXPECT_EQ(model.num_parameters(), (3 * 6 + 6) + (6 * 3 + 3) + (3 + 1));
  ASSERT_EQ(model.num_parameters(), count_parameters(config));
}

TEST(Dlrm, LossMatchesTheDoubleReference) {
  for (const DlrmConfig& config : {small_config(), dense_free_config()}) {
    Dlrm model(config);
    const Batch batch = random_batch(config, 4, 1);
    std::vector<float> embedding_grad(batch.embeddings.size());
    const double loss = model.forward_backward(batch.dense, batch.embeddings, batch.labels,
                                               batch.size, 1.0f, embedding_grad);
    const double expected =
        reference_loss(config, to_double(model.parameters()), to_double(batch.dense),
                       to_double(batch.embeddings), batch.labels);
    EXPECT_NEAR(loss, expected, 1e-5 * std::fabs(expected)) << "num_dense " << config.num_dense;
  }
}

// Central differences of the double reference, so the only rounding in the
// comparison is the model's own float arithmetic.
void expect_gradients_match_finite_differences(const DlrmConfig& config) {
  Dlrm model(config);
  // Positive biases keep most ReLUs open, so that most gradients are not
  // trivially zero.
  std::mt19937_64 generator(5);
  std::uniform_real_distribution<float> uniform(0.05f, 0.3f);
  for (float& p : model.parameters())
    if (p == 0.0f) p = uniform(generator);
  const Batch batch = random_batch(config, 4, 2);
  const float loss_scale = 0.25f;
  std::vector<float> embedding_grad(batch.embeddings.size(), 99.0f);
  model.forward_backward(batch.dense, batch.embeddings, batch.labels, batch.size, loss_scale,
                         embedding_grad);

  const std::vector<double> parameters = to_double(model.parameters());
  const std::vector<double> dense = to_double(batch.dense);
  const std::vector<double> embeddings = to_double(batch.embeddings);
  constexpr double kStep = 1e-6;
  auto expect_gradient = [&](double expected, float got, const char* what, std::size_t i) {
    EXPECT_NEAR(got, expected, 1e-6 + 1e-4 * std::fabs(expected)) << what << " " << i;
  };

  int nonzero = 0;
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    std::vector<double> plus = parameters, minus = parameters;
    plus[i] += kStep;
    minus[i] -= kStep;
    const double expected = loss_scale *
                            (reference_loss(config, plus, dense, embeddings, batch.labels) -
                             reference_loss(config, minus, dense, embeddings, batch.labels)) /
                            (2 * kStep);
    expect_gradient(expected, model.gradients()[i], "parameter", i);
    nonzero += std::fabs(expected) > 1e-6;
  }
  // A check where most units are dead would prove little.
  EXPECT_GT(nonzero, static_cast<int>(parameters.size()) * 9 / 10);

  for (std::size_t i = 0; i < embeddings.size(); ++i) {
    std::vector<double> plus = embeddings, minus = embeddings;
    plus[i] += kStep;
    minus[i] -= kStep;
    const double expected = loss_scale *
                            (reference_loss(config, parameters, dense, plus, batch.labels) -
                             reference_loss(config, parameters, dense, minus, batch.labels)) /
                            (2 * kStep);
    expect_gradient(expected, embedding_grad[i], "embedding input", i);
  }
}

TEST(Dlrm, GradientsMatchFiniteDifferencesOfTheReference) {
  expect_gradients_match_finite_differences(small_config());
}

TEST(Dlrm, GradientsWithoutDenseFeaturesMatchFiniteDifferences) {
  expect_gradients_match_finite_differences(dense_free_config());
}

TEST(Dlrm, GradientsAccumulateUntilZeroed) {
  const DlrmConfig config = small_config();
  Dlrm model(config);
  const Batch batch = random_batch(config, 4, 3);
  std::vector<float> embedding_grad(batch.embeddings.size());
  model.forward_backward(batch.dense, batch.embeddings, batch.labels, batch.size, 1.0f,
                         embedding_grad);
  const std::vector<float> once(model.gradients().begin(), model.gradients().end());
  const std::vector<float> embedding_once = embedding_grad;
  model.forward_backward(batch.dense, batch.embeddings, batch.labels, batch.size, 1.0f,
                         embedding_grad);
  // Equal up to rounding: the second batch's terms are added into the
  // accumulated sums one by one.
  for (std::size_t i = 0; i < once.size(); ++i)
    EXPECT_FLOAT_EQ(model.gradients()[i], 2 * once[i]) << i;
  // The embedding gradient is overwritten, not accumulated.
  EXPECT_EQ(embedding_grad, embedding_once);
  model.zero_gradients();
  for (float g : model.gradients()) EXPECT_EQ(g, 0.0f);
}

// z read back through the top layer's weight gradient: with that layer's
// weights and bias at 0 the logit is 0, so for label 0 its weight gradient is
// sigmoid(0) * z = z / 2.
TEST(Dlrm, InteractionIsXThenDotsInRowMajorPairOrder) {
  Dlrm model({.num_dense = 2, .num_sparse = 2, .embedding_dim = 2});
  std::span<float> p = model.parameters();
  // Bottom: one layer 2 -> 2, set to the identity so x = dense.
  const float identity[] = {1, 0, 0, 1, 0, 0};
  std::copy(std::begin(identity), std::end(identity), p.begin());
  std::fill(p.begin() + 6, p.end(), 0.0f);  // top: 5 -> 1, all zero

  const std::vector<float> dense = {1, 2};
  const std::vector<float> embeddings = {3, 4, 5, 6};
  std::vector<float> embedding_grad(4);
  const std::vector<float> label = {0.0f};
  const double loss = model.forward_backward(dense, embeddings, label, 1, 1.0f, embedding_grad);
  EXPECT_NEAR(loss, std::log(2.0), 1e-7);
  // v = (1,2) (3,4) (5,6): x, then (0,1) (0,2) (1,2).
  const float expected_z[] = {1, 2, 11, 17, 39};
  for (int i = 0; i < 5; ++i) EXPECT_FLOAT_EQ(model.gradients()[6 + i], 0.5f * expected_z[i]) << i;
  EXPECT_FLOAT_EQ(model.gradients()[11], 0.5f);  // the top bias
}

// As above, without dense features: z is the dots alone, read back through
// the top layer's weight gradient; then with that layer's weights (1, 0, 0)
// the logit is v0 . v1, whose gradient sends v1 to v0 and v0 to v1.
TEST(Dlrm, InteractionWithoutDenseFeaturesIsTheDotsAlone) {
  Dlrm model({.num_dense = 0, .num_sparse = 3, .embedding_dim = 2});
  ASSERT_EQ(model.num_parameters(), 3 + 1);  // top: 3 -> 1, nothing else
  std::span<float> p = model.parameters();
  std::fill(p.begin(), p.end(), 0.0f);

  const std::vector<float> none;
  const std::vector<float> embeddings = {1, 2, 3, 4, 5, 6};
  std::vector<float> embedding_grad(6);
  const std::vector<float> label = {0.0f};
  const double loss = model.forward_backward(none, embeddings, label, 1, 1.0f, embedding_grad);
  EXPECT_NEAR(loss, std::log(2.0), 1e-7);
  // v = (1,2) (3,4) (5,6); pairs (0,1) (0,2) (1,2).
  const float expected_z[] = {11, 17, 39};
  for (int i = 0; i < 3; ++i) EXPECT_FLOAT_EQ(model.gradients()[i], 0.5f * expected_z[i]) << i;
  EXPECT_FLOAT_EQ(model.gradients()[3], 0.5f);  // the top bias

  // For label 0: dv0 = sigmoid(logit) v1, dv1 = sigmoid(logit) v0, dv2 = 0.
  p[0] = 1.0f;
  const std::vector<float> small = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f};
  model.forward_backward(none, small, label, 1, 1.0f, embedding_grad);
  const double slope = 1.0 / (1.0 + std::exp(-(0.1 * 0.3 + 0.2 * 0.4)));
  const double expected_grad[] = {0.3, 0.4, 0.1, 0.2, 0, 0};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(embedding_grad[i], slope * expected_grad[i], 1e-6) << i;
  EXPECT_EQ(model.predict(none, small, 1).size(), 1u);
}

// The batch is 17 full chunks and a short one (batch_chunks.h), so every
// gradient slot gets a chunk and slot 0 gets a second; two steps, so the
// gradients also accumulate.
TEST(Dlrm, SameInputsGiveSameBitsWhateverTheThreadCount) {
  const DlrmConfig config = {.num_dense = 13,
                             .num_sparse = 5,
                             .embedding_dim = 16,
                             .bottom_mlp = {64, 32},
                             .top_mlp = {96, 48},
                             .seed = 3};
  const int64_t batch_size = 17 * BatchChunks::kChunkExamples + 5;
  const Batch batch = random_batch(config, batch_size, 4);
  struct Run {
    std::vector<float> parameters;
    std::vector<double> losses;
    std::vector<float> gradients;
    std::vector<float> embedding_grad;
    std::vector<float> probabilities;
  };
  auto run = [&](int threads) {
    omp_set_num_threads(threads);
    Dlrm model(config);
    Run result{{model.parameters().begin(), model.parameters().end()},
               {},
               {},
               std::vector<float>(batch.embeddings.size()),
               {}};
    for (int step = 0; step < 2; ++step)
      result.losses.push_back(model.forward_backward(batch.dense, batch.embeddings, batch.labels,
                                                     batch.size, 1.0f / batch_size,
                                                     result.embedding_grad));
    result.gradients.assign(model.gradients().begin(), model.gradients().end());
    result.probabilities = model.predict(batch.dense, batch.embeddings, batch.size);
    return result;
  };
  auto same_bits = [](const auto& a, const auto& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(a[0])) == 0;
  };
  const int threads = omp_get_max_threads();
  const Run one = run(1);
  for (int other_threads : {2, 3}) {
    const Run other = run(other_threads);
    EXPECT_TRUE(same_bits(one.parameters, other.parameters)) << other_threads << " threads";
    EXPECT_TRUE(same_bits(one.losses, other.losses)) << other_threads << " threads";
    EXPECT_TRUE(same_bits(one.gradients, other.gradients)) << other_threads << " threads";
    EXPECT_TRUE(same_bits(one.embedding_grad, other.embedding_grad)) << other_threads << " threads";
    EXPECT_TRUE(same_bits(one.probabilities, other.probabilities)) << other_threads << " threads";
  }
  omp_set_num_threads(threads);

  DlrmConfig other_seed = config;
  other_seed.seed = 4;
  Dlrm other(other_seed);
  EXPECT_FALSE(same_bits(one.parameters,
                         std::vector<float>(other.parameters().begin(), other.parameters().end())));
}

// With label 1 an example's loss is -log p, so p = exp(-loss).
TEST(Dlrm, PredictIsTheSigmoidOfTheForwardLogit) {
  const DlrmConfig config = small_config();
  Dlrm model(config);
  const Batch batch = random_batch(config, 6, 6);
  const std::vector<float> probabilities = model.predict(batch.dense, batch.embeddings, batch.size);
  ASSERT_EQ(probabilities.size(), 6u);
  const int64_t dense_width = config.num_dense;
  const int64_t pooled_width = config.num_sparse * config.embedding_dim;
  const std::vector<float> label = {1.0f};
  for (int64_t b = 0; b < batch.size; ++b) {
    std::vector<float> embedding_grad(pooled_width);
    const double loss =
        model.forward_backward(std::span(batch.dense).subspan(b * dense_width, dense_width),
                               std::span(batch.embeddings).subspan(b * pooled_width, pooled_width),
                               label, 1, 1.0f, embedding_grad);
    EXPECT_NEAR(probabilities[b], std::exp(-loss), 1e-6) << b;
  }
  const std::vector<double> logits =
      reference_logits(config, to_double(model.parameters()), to_double(batch.dense),
                       to_double(batch.embeddings), batch.size);
  for (int64_t b = 0; b < batch.size; ++b)
    EXPECT_NEAR(probabilities[b], 1.0 / (1.0 + std::exp(-logits[b])), 1e-6);
}

TEST(Dlrm, LossIsStableForLargeLogits) {
  Dlrm model({.num_dense = 1, .num_sparse = 1, .embedding_dim = 1});
  std::span<float> p = model.parameters();
  // bottom 1 -> 1 (w, b), top 2 -> 1 (w0, w1, b): logit = 100 * x.
  const float weights[] = {1, 0, 100, 0, 0};
  std::copy(std::begin(weights), std::end(weights), p.begin());
  const std::vector<float> dense = {1.0f}, embedding = {0.0f};
  const std::vector<float> zero = {0.0f}, one = {1.0f};
  std::vector<float> embedding_grad(1);
  const double confident_wrong =
      model.forward_backward(dense, embedding, zero, 1, 1.0f, embedding_grad);
  EXPECT_NEAR(confident_wrong, 100.0, 1e-9);
  const double confident_right =
      model.forward_backward(dense, embedding, one, 1, 1.0f, embedding_grad);
  EXPECT_GT(confident_right, 0.0);
  EXPECT_NEAR(confident_right, std::exp(-100.0), 1e-50);
  for (float g : model.gradients()) EXPECT_TRUE(std::isfinite(g));
}

TEST(Dlrm, EmptyBatchChangesNothing) {
  Dlrm model(small_config());
  std::vector<float> none;
  EXPECT_EQ(model.forward_backward(none, none, none, 0, 1.0f, none), 0.0);
  for (float g : model.gradients()) EXPECT_EQ(g, 0.0f);
  EXPECT_TRUE(model.predict(none, none, 0).empty());
}

TEST(Dlrm, RefusesBadSizes) {
  auto refused = [](DlrmConfig config, const char* expected_message) {
    try {
      Dlrm model(std::move(config));
    } catch (const InvalidArgument& error) {
      EXPECT_NE(std::string(error.what()).find(expected_message), std::string::npos)
          << error.what();
      return;
    }
    ADD_FAILURE() << "accepted a config with " << expected_message;
  };
  DlrmConfig config = small_config();
  config.num_dense = -1;
  refused(config, "num_dense = -1");
  config = dense_free_config();
  config.bottom_mlp = {4};
  refused(config, "num_dense = 0 means no bottom MLP");
  config = dense_free_config();
  config.num_sparse = 1;
  refused(config, "num_sparse = 1 with num_dense = 0");
  config = small_config();
  config.num_sparse = -2;
  refused(config, "num_sparse = -2");
  config = small_config();
  config.embedding_dim = 0;
  refused(config, "embedding_dim = 0");
  config = small_config();
  config.bottom_mlp = {4, 0};
  refused(config, "bottom_mlp width = 0");
  config = small_config();
  config.top_mlp = {-1};
  refused(config, "top_mlp width = -1");
}

TEST(Dlrm, RefusesBadBatchesBeforeWritingAnything) {
  const DlrmConfig config = small_config();
  Dlrm model(config);
  Batch batch = random_batch(config, 4, 7);
  std::vector<float> embedding_grad(batch.embeddings.size(), 7.0f);
  auto step = [&](const Batch& b, int64_t batch_size, float loss_scale, std::span<float> grad) {
    return model.forward_backward(b.dense, b.embeddings, b.labels, batch_size, loss_scale, grad);
  };
  EXPECT_THROW(step(batch, 3, 1.0f, embedding_grad), InvalidArgument);
  EXPECT_THROW(step(batch, -1, 1.0f, embedding_grad), InvalidArgument);
  EXPECT_THROW(step(batch, 4, NAN, embedding_grad), InvalidArgument);
  EXPECT_THROW(step(batch, 4, 1.0f, std::span(embedding_grad).first(31)), InvalidArgument);
  Batch short_dense = batch;
  short_dense.dense.pop_back();
  EXPECT_THROW(step(short_dense, 4, 1.0f, embedding_grad), InvalidArgument);
  Batch bad_label = batch;
  bad_label.labels[2] = 1.5f;
  try {
    step(bad_label, 4, 1.0f, embedding_grad);
    ADD_FAILURE() << "accepted label 1.5";
  } catch (const InvalidArgument& error) {
    EXPECT_NE(std::string(error.what()).find("label 1.5 at position 2"), std::string::npos)
        << error.what();
  }
  bad_label.labels[2] = NAN;
  EXPECT_THROW(step(bad_label, 4, 1.0f, embedding_grad), InvalidArgument);
  for (float g : model.gradients()) EXPECT_EQ(g, 0.0f);
  for (float g : embedding_grad) EXPECT_EQ(g, 7.0f);

  EXPECT_THROW(model.predict(batch.dense, batch.embeddings, 5), InvalidArgument);
}

}  // namespace
}  // namespace rowshard
