// One conformance case (see CONFORMANCE.md): its case.json and arrays,
// loaded from its directory.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "rowshard/engine/lookup_input.h"
#include "rowshard/engine/optimizers/optimizer_config.h"
#include "rowshard/engine/pooling.h"

namespace rowshard::conformance {

struct FloatArray {
  Shape shape;
  std::vector<float> values;
};
struct IndexArray {
  Shape shape;
  std::vector<int64_t> values;
};

struct OptimizerSpec {
  std::string name;  // "sgd" | "adagrad" | "rowwise_adagrad"
  std::optional<float> lr;
  std::optional<float> eps;
  float weight_decay = 0.0f;
  float initial_accumulator_value = 0.0f;
};

struct Case {
  std::filesystem::path directory;
  std::string op;  // "embedding" | "embedding_bag"
  std::optional<int64_t> num_embeddings;
  std::optional<int64_t> embedding_dim;
  PoolingMode mode = PoolingMode::mean;
  std::optional<int64_t> padding_idx;
  std::optional<double> max_norm;
  double norm_type = 2.0;
  bool scale_grad_by_freq = false;
  bool include_last_offset = false;
  std::optional<OptimizerSpec> optimizer;
  int steps = 1;
  std::optional<std::string> expect_error;  // "out_of_range" | "invalid_argument"
  double rtol = 1e-5;
  double atol = 1e-6;

  FloatArray weight;
  IndexArray indices;
  std::optional<IndexArray> offsets;
  std::optional<FloatArray> per_sample_weights;
  std::optional<FloatArray> grad_output;
  // Expected results, each absent when the case does not check it.
  std::optional<FloatArray> output;
  std::optional<FloatArray> weight_after_forward;
  std::optional<FloatArray> grad_weight;
  std::optional<FloatArray> weight_updated;
  std::optional<FloatArray> optimizer_state;
};

// The engine's description of the case's optimizer. Throws
// InvalidArgument for an unknown name.
OptimizerConfig optimizer_config(const OptimizerSpec& spec);

// Reads `directory`/case.json and the .npy files beside it. Throws
// rowshard::Error (with the file's name) for a case that cannot be read.
Case load_case(const std::filesystem::path& directory);

}  // namespace rowshard::conformance
