#include "tests/conformance/conformance_case.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "rowshard/engine/error.h"
#include "rowshard/io/npy/npy_file.h"

namespace rowshard::conformance {
namespace {

using nlohmann::json;

template <typename T>
std::optional<T> optional_field(const json& spec, const char* key) {
  if (!spec.contains(key) || spec[key].is_null()) return std::nullopt;
  return spec[key].get<T>();
}

std::optional<FloatArray> load_floats(const std::filesystem::path& file) {
  if (!std::filesystem::exists(file)) return std::nullopt;
  const npy::Array array = npy::read(file.string());
  return FloatArray{array.header.shape, array.values<float>(file.string())};
}

std::optional<IndexArray> load_indices(const std::filesystem::path& file) {
  if (!std::filesystem::exists(file)) return std::nullopt;
  const npy::Array array = npy::read(file.string());
  return IndexArray{array.header.shape, array.values<int64_t>(file.string())};
}

OptimizerSpec parse_optimizer(const json& spec) {
  OptimizerSpec optimizer;
  optimizer.name = spec.at("name").get<std::string>();
  optimizer.lr = optional_field<float>(spec, "lr");
  optimizer.eps = optional_field<float>(spec, "eps");
  optimizer.weight_decay = optional_field<float>(spec, "weight_decay").value_or(0.0f);
  optimizer.initial_accumulator_value =
      optional_field<float>(spec, "initial_accumulator_value").value_or(0.0f);
  return optimizer;
}

}  // namespace

OptimizerConfig optimizer_config(const OptimizerSpec& spec) {
  const std::optional<OptimizerKind> kind = parse_optimizer_kind(spec.name);
  if (!kind) throw InvalidArgument(message("unknown optimizer '", spec.name, "'"));
  OptimizerConfig config;
  config.kind = *kind;
  if (spec.lr) config.lr = *spec.lr;
  config.eps = spec.eps;
  config.weight_decay = spec.weight_decay;
  config.initial_accumulator_value = spec.initial_accumulator_value;
  return config;
}

Case load_case(const std::filesystem::path& directory) {
  const std::filesystem::path spec_file = directory / "case.json";
  std::ifstream stream(spec_file);
  if (!stream) throw IoError(message("cannot open '", spec_file.string(), "'"));
  json spec;
  try {
    spec = json::parse(stream);
  } catch (const json::exception& error) {
    throw CorruptData(message("'", spec_file.string(), "': ", error.what()));
  }

  Case c;
  c.directory = directory;
  try {
    c.op = spec.at("op").get<std::string>();
    c.num_embeddings = optional_field<int64_t>(spec, "num_embeddings");
    c.embedding_dim = optional_field<int64_t>(spec, "embedding_dim");
    if (auto mode = optional_field<std::string>(spec, "mode")) {
      const auto parsed = parse_pooling_mode(*mode);
      if (!parsed)
        throw InvalidArgument(
            message("'", spec_file.string(), "': mode '", *mode, "' is not sum, mean or max"));
      c.mode = *parsed;
    }
    c.padding_idx = optional_field<int64_t>(spec, "padding_idx");
    c.max_norm = optional_field<double>(spec, "max_norm");
    c.norm_type = optional_field<double>(spec, "norm_type").value_or(2.0);
    c.scale_grad_by_freq = optional_field<bool>(spec, "scale_grad_by_freq").value_or(false);
    c.include_last_offset = optional_field<bool>(spec, "include_last_offset").value_or(false);
    if (spec.contains("optimizer") && !spec["optimizer"].is_null())
      c.optimizer = parse_optimizer(spec["optimizer"]);
    c.steps = optional_field<int>(spec, "steps").value_or(1);
    c.expect_error = optional_field<std::string>(spec, "expect_error");
    c.rtol = optional_field<double>(spec, "rtol").value_or(1e-5);
    c.atol = optional_field<double>(spec, "atol").value_or(1e-6);
  } catch (const json::exception& error) {
    throw CorruptData(message("'", spec_file.string(), "': ", error.what()));
  }

  auto weight = load_floats(directory / "weight.npy");
  auto indices = load_indices(directory / "indices.npy");
  if (!weight || !indices)
    throw IoError(message("case '", directory.string(), "' needs weight.npy and indices.npy"));
  c.weight = std::move(*weight);
  c.indices = std::move(*indices);
  c.offsets = load_indices(directory / "offsets.npy");
  c.per_sample_weights = load_floats(directory / "per_sample_weights.npy");
  c.grad_output = load_floats(directory / "grad_output.npy");
  c.output = load_floats(directory / "output.npy");
  c.weight_after_forward = load_floats(directory / "weight_after_forward.npy");
  c.grad_weight = load_floats(directory / "grad_weight.npy");
  c.weight_updated = load_floats(directory / "weight_updated.npy");
  c.optimizer_state = load_floats(directory / "optimizer_state.npy");
  return c;
}

}  // namespace rowshard::conformance
