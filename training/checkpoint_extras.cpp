#include "training/checkpoint_extras.h"

#include <cstring>
#include <span>
#include <sstream>

#include "rowshard/engine/error.h"

namespace rowshard {
namespace {

std::vector<std::byte> to_bytes(const void* data, std::size_t bytes) {
  const auto* begin = static_cast<const std::byte*>(data);
  return {begin, begin + bytes};
}

template <typename T>
void from_bytes(const std::vector<std::byte>& bytes, std::span<T> out, const char* what) {
  if (bytes.size() != out.size_bytes())
    throw CorruptData(message("checkpoint extra '", what, "' has ", bytes.size(),
                              " bytes, expected ", out.size_bytes()));
  std::memcpy(out.data(), bytes.data(), bytes.size());
}

}  // namespace

checkpoint::Extras encode_extras(const TrainerExtras& extras) {
  checkpoint::Extras out;
  out["dense_parameters"] =
      to_bytes(extras.dense_parameters.data(), extras.dense_parameters.size() * sizeof(float));
  out["dense_optimizer_state"] = to_bytes(extras.dense_optimizer_state.data(),
                                          extras.dense_optimizer_state.size() * sizeof(float));
  out["dense_optimizer_steps"] =
      to_bytes(&extras.dense_optimizer_steps, sizeof extras.dense_optimizer_steps);
  std::string positions;
  for (const std::string& position : extras.data_positions) positions += position + "\n";
  out["data_positions"] = to_bytes(positions.data(), positions.size());
  std::vector<double> losses;
  for (const RecentLosses::Step& step : extras.recent_losses)
    losses.insert(losses.end(), {step.loss_sum, step.examples});
  out["recent_losses"] = to_bytes(losses.data(), losses.size() * sizeof(double));
  return out;
}

TrainerExtras decode_extras(const checkpoint::Extras& extras, const std::string& checkpoint,
                            std::size_t num_parameters, std::size_t optimizer_state_size) {
  auto extra = [&](const char* name) -> const std::vector<std::byte>& {
    const auto at = extras.find(name);
    if (at == extras.end())
      throw CorruptData(message("checkpoint '", checkpoint, "' has no '", name,
                                "': it was not saved by rowshard-train"));
    return at->second;
  };
  TrainerExtras out;
  out.dense_parameters.resize(num_parameters);
  from_bytes(extra("dense_parameters"), std::span(out.dense_parameters), "dense_parameters");
  out.dense_optimizer_state.resize(optimizer_state_size);
  from_bytes(extra("dense_optimizer_state"), std::span(out.dense_optimizer_state),
             "dense_optimizer_state");
  from_bytes(extra("dense_optimizer_steps"), std::span(&out.dense_optimizer_steps, 1),
             "dense_optimizer_steps");

  const std::vector<std::byte>& loss_bytes = extra("recent_losses");
  std::vector<double> losses(loss_bytes.size() / sizeof(double));
  from_bytes(loss_bytes, std::span(losses), "recent_losses");
  for (std::size_t i = 0; i + 1 < losses.size(); i += 2)
    out.recent_losses.push_back({losses[i], losses[i + 1]});

  const std::vector<std::byte>& position_bytes = extra("data_positions");
  std::istringstream positions(
      std::string(reinterpret_cast<const char*>(position_bytes.data()), position_bytes.size()));
  for (std::string line; std::getline(positions, line);) out.data_positions.push_back(line);
  return out;
}

}  // namespace rowshard
