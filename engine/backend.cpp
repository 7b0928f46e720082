#include "engine/backend.h"

#include <array>

#include "engine/cpu/cpu_backend.h"
#include "engine/cuda/cuda_backend.h"
#include "rowshard/engine/error.h"

namespace rowshard {
namespace {

constexpr std::array<std::pair<Device, std::string_view>, 2> kDeviceNames = {
    {{Device::cpu, "cpu"}, {Device::cuda, "cuda"}}};

}  // namespace

std::string_view device_name(Device device) {
  for (const auto& [known, name] : kDeviceNames)
    if (known == device) return name;
  return "unknown";
}

std::optional<Device> device_from_name(std::string_view name) {
  for (const auto& [device, known] : kDeviceNames)
    if (known == name) return device;
  return std::nullopt;
}

bool device_is_built(Device device) { return device == Device::cpu || cuda::is_built(); }

std::string device_unavailable_reason(Device device) {
  return device == Device::cpu ? std::string() : cuda::unavailable_reason();
}

void Backend::pooled_forward_checked_ids(std::span<const PoolingTask> tasks) const {
  const bool all_in_range = pooled_forward(tasks);
  ROWSHARD_ASSERT(all_in_range);  // callers whose ids are all checked
}

const Backend& backend_for(Device device, std::string_view owner) {
  static const cpu::CpuBackend cpu_backend;
  if (device == Device::cpu) return cpu_backend;
  return cuda::backend(owner);
}

}  // namespace rowshard
