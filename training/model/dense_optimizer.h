// The optimizer of the dense model's flat parameter array (Dlrm::parameters()),
// replicated on every rank: each rank steps its copy with the same
// all-reduced gradient, so the copies stay identical.
//
// kind "sgd", as torch.optim.SGD without momentum:
//   g = grad + weight_decay * w
//   w = w - lr * g
//
// kind "adam", as torch.optim.Adam (L2 weight decay, not AdamW), with step
// counter t starting at 0 and m = v = 0:
//   t  = t + 1
//   g  = grad + weight_decay * w
//   m  = m + (1 - beta1) * (g - m)          (beta1 m + (1 - beta1) g)
//   v  = beta2 * v + (1 - beta2) * g * g
//   w  = w - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// The bias corrections are computed in double, as PyTorch computes them in
// Python; the element-wise updates are float.
//
// Element-wise and single-threaded: the same gradients give the same bits.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace rowshard {

struct DenseOptimizerConfig {
  std::string kind = "adam";  // "sgd" or "adam"
  float lr = 1e-3f;
  float weight_decay = 0.0f;
  // adam only:
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
};

class DenseOptimizer {
 public:
  // Throws InvalidArgument for an unknown kind, lr, weight_decay or eps
  // negative or not finite, a beta outside [0, 1), num_parameters < 0.
  DenseOptimizer(DenseOptimizerConfig config, int64_t num_parameters);

  // One update of `parameters` with `gradients`, both [num_parameters]
  // (throws InvalidArgument, before writing anything, for other sizes).
  void step(std::span<float> parameters, std::span<const float> gradients);

  // adam: m [num_parameters] then v [num_parameters]; sgd: empty. Writable,
  // so a checkpoint can restore it (together with set_steps).
  std::span<float> state() { return state_; }
  std::span<const float> state() const { return state_; }

  // Steps taken so far (Adam's t). set_steps restores it from a checkpoint;
  // throws InvalidArgument for a negative count.
  int64_t steps() const { return steps_; }
  void set_steps(int64_t steps);

  const DenseOptimizerConfig& config() const { return config_; }
  int64_t num_parameters() const { return num_parameters_; }

 private:
  enum class Kind { sgd, adam };

  DenseOptimizerConfig config_;
  Kind kind_;
  int64_t num_parameters_;
  int64_t steps_ = 0;
  std::vector<float> state_;
};

}  // namespace rowshard
