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
// Why `device` cannot be used by this process, or an empty string when it
// can. For cuda: a build without CUDA, or no device answering, with the
// driver's own error (35 where there is no driver at all).
std::string device_unavailable_reason(Device device);

// The CUDA devices this process sees: 0 where none answers or CUDA is not
// built.
int cuda_device_count();
// Makes CUDA device `index` the calling thread's device, for the tables it
// then creates and the kernels it launches. A job runs one rank per GPU,
// the GPU of its local rank. Throws InvalidArgument naming the index and
// the devices there are when there is no such device.
void select_cuda_device(int index);

}  // namespace rowshard
