// The dense optimizer against the textbook formulas evaluated in double
// (Adam in its m_hat / v_hat form, which the header's form rearranges),
// restoring from state() and set_steps(), and the refusal of bad options.
#include "training/model/dense_optimizer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "rowshard/engine/error.h"

namespace rowshard {
namespace {

void expect_close(const std::vector<double>& expected, std::span<const float> got,
                  const char* what) {
  ASSERT_EQ(expected.size(), got.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], expected[i], 1e-7 + 1e-5 * std::fabs(expected[i])) << what << " at " << i;
}

const std::vector<std::vector<float>> kGradients = {
    {0.5f, -0.25f, 1e-3f, 0.0f}, {-0.1f, 0.3f, 2e-3f, 0.0f}, {0.7f, 0.2f, -1e-3f, 4.0f},
    {0.05f, -0.6f, 0.0f, -2.0f}, {-0.3f, 0.1f, 5e-4f, 1.0f},
};

TEST(DenseOptimizer, AdamMatchesTheTextbookFormulaOverSteps) {
  const double lr = 0.01, beta1 = 0.8, beta2 = 0.99, eps = 1e-6, decay = 0.1;
  DenseOptimizer adam({.kind = "adam",
                       .lr = 0.01f,
                       .weight_decay = 0.1f,
                       .beta1 = 0.8f,
                       .beta2 = 0.99f,
                       .eps = 1e-6f},
                      4);
  std::vector<float> w = {1.0f, -2.0f, 0.5f, 0.0f};
  std::vector<double> expected(w.begin(), w.end());
  std::vector<double> m(4, 0.0), v(4, 0.0);
  for (std::size_t t = 1; t <= kGradients.size(); ++t) {
    const std::vector<float>& grad = kGradients[t - 1];
    adam.step(w, grad);
    for (int i = 0; i < 4; ++i) {
      const double g = grad[i] + decay * expected[i];
      m[i] = beta1 * m[i] + (1 - beta1) * g;
      v[i] = beta2 * v[i] + (1 - beta2) * g * g;
      const double m_hat = m[i] / (1 - std::pow(beta1, t));
      const double v_hat = v[i] / (1 - std::pow(beta2, t));
      expected[i] -= lr * m_hat / (std::sqrt(v_hat) + eps);
    }
    expect_close(expected, w, "weights");
  }
  EXPECT_EQ(adam.steps(), 5);
  std::vector<double> state = m;
  state.insert(state.end(), v.begin(), v.end());
  expect_close(state, adam.state(), "state");
}

TEST(DenseOptimizer, AdamDefaultsAreTorchs) {
  const DenseOptimizerConfig config;
  EXPECT_EQ(config.kind, "adam");
  EXPECT_EQ(config.lr, 1e-3f);
  EXPECT_EQ(config.beta1, 0.9f);
  EXPECT_EQ(config.beta2, 0.999f);
  EXPECT_EQ(config.eps, 1e-8f);
  EXPECT_EQ(config.weight_decay, 0.0f);
  // Adam's first step moves every weight with a non-zero gradient by about
  // lr, whatever the gradient's size.
  DenseOptimizer adam(config, 3);
  std::vector<float> w = {0.0f, 0.0f, 0.0f};
  const std::vector<float> grad = {1e-3f, -50.0f, 0.0f};
  adam.step(w, grad);
  expect_close({-1e-3, 1e-3, 0.0}, w, "weights");
}

TEST(DenseOptimizer, AdamResumesFromStateAndStepsExactly) {
  const DenseOptimizerConfig config = {.kind = "adam", .lr = 0.05f};
  DenseOptimizer uninterrupted(config, 4);
  std::vector<float> w = {1.0f, 2.0f, 3.0f, 4.0f};
  for (std::size_t t = 0; t < 3; ++t) uninterrupted.step(w, kGradients[t]);

  DenseOptimizer resumed(config, 4);
  std::copy(uninterrupted.state().begin(), uninterrupted.state().end(), resumed.state().begin());
  resumed.set_steps(uninterrupted.steps());
  std::vector<float> w_resumed = w;
  for (std::size_t t = 3; t < kGradients.size(); ++t) {
    uninterrupted.step(w, kGradients[t]);
    resumed.step(w_resumed, kGradients[t]);
  }
  EXPECT_EQ(w, w_resumed);
  EXPECT_TRUE(std::equal(uninterrupted.state().begin(), uninterrupted.state().end(),
                         resumed.state().begin()));
}

TEST(DenseOptimizer, SgdMatchesTheFormula) {
  DenseOptimizer sgd({.kind = "sgd", .lr = 0.5f, .weight_decay = 0.1f}, 4);
  EXPECT_TRUE(sgd.state().empty());
  std::vector<float> w = {1.0f, -2.0f, 3.0f, 0.0f};
  std::vector<double> expected(w.begin(), w.end());
  for (const std::vector<float>& grad : kGradients) {
    sgd.step(w, grad);
    for (int i = 0; i < 4; ++i) expected[i] -= 0.5 * (grad[i] + 0.1 * expected[i]);
  }
  expect_close(expected, w, "weights");
  EXPECT_EQ(sgd.steps(), 5);
}

TEST(DenseOptimizer, RefusesUnknownKindNamingTheValidOnes) {
  try {
    DenseOptimizer optimizer({.kind = "adamw"}, 3);
    ADD_FAILURE() << "accepted kind adamw";
  } catch (const InvalidArgument& error) {
    const std::string text = error.what();
    EXPECT_NE(text.find("'adamw'"), std::string::npos) << text;
    EXPECT_NE(text.find("'sgd'"), std::string::npos) << text;
    EXPECT_NE(text.find("'adam'"), std::string::npos) << text;
  }
}

TEST(DenseOptimizer, RefusesBadValues) {
  EXPECT_THROW(DenseOptimizer({.lr = -1.0f}, 3), InvalidArgument);
  EXPECT_THROW(DenseOptimizer({.lr = INFINITY}, 3), InvalidArgument);
  EXPECT_THROW(DenseOptimizer({.weight_decay = -0.1f}, 3), InvalidArgument);
  EXPECT_THROW(DenseOptimizer({.beta1 = 1.0f}, 3), InvalidArgument);
  EXPECT_THROW(DenseOptimizer({.beta2 = -0.5f}, 3), InvalidArgument);
  EXPECT_THROW(DenseOptimizer({.eps = NAN}, 3), InvalidArgument);
  EXPECT_THROW(DenseOptimizer({}, -1), InvalidArgument);

  DenseOptimizer adam({}, 3);
  std::vector<float> w(3, 1.0f), short_grad(2, 1.0f);
  EXPECT_THROW(adam.step(w, short_grad), InvalidArgument);
  EXPECT_EQ(adam.steps(), 0);
  EXPECT_EQ(w, std::vector<float>(3, 1.0f));
  EXPECT_THROW(adam.set_steps(-1), InvalidArgument);
}

}  // namespace
}  // namespace rowshard
