// Where a table's weights and optimizer state live, and so which backend's
// kernels read and update them (DESIGN.md, "Backends").
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace rowshard {

enum class Device { cpu, cuda };

// Where a cuda table's rows and optimizer state are kept.
enum class CudaMemory {
  // GPU memory (CUDA managed memory that prefers the GPU): the fastest
  // lookups; the table must fit in the GPU's free memory.
  device,
  // Pinned host memory mapped into the GPU's address space: the kernels
  // read rows over the bus, for tables larger than the GPU's memory.
  host_mapped,
};

std::string_view device_name(Device device);
// Parses "cpu" / "cuda"; nullopt for anything else.
std::optional<Device> device_from_name(std::string_view name);
// Whether this build of rowshard has the backend for `device` (CUDA is
// built only where nvcc was found).
bool device_is_built(Device device);

}  // namespace rowshard
