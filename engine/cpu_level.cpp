#include "rowshard/engine/cpu_level.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>

#include "engine/cpu/kernel_table.h"
#include "engine/level_choice.h"
#include "rowshard/engine/error.h"

namespace rowshard {
namespace {

constexpr CpuLevel kLevels[] = {CpuLevel::baseline, CpuLevel::avx2, CpuLevel::avx512};

// The instruction sets each level's kernels are compiled for (CMakeLists.txt)
// are exactly these micro-architecture levels; libgcc also checks that the
// operating system saves the AVX and AVX-512 registers.
bool cpu_has(CpuLevel level) {
  switch (level) {
    case CpuLevel::baseline: return true;
    case CpuLevel::avx2: return __builtin_cpu_supports("x86-64-v3");
    case CpuLevel::avx512: return __builtin_cpu_supports("x86-64-v4");
  }
  return false;
}

std::string names_of(std::span<const CpuLevel> levels) {
  std::string names;
  for (CpuLevel level : levels)
    names += (names.empty() ? "" : ", ") + std::string(cpu_level_name(level));
  return names;
}

CpuLevel level_at_start() {
  const char* forced = std::getenv("ROWSHARD_CPU_LEVEL");
  const std::vector<CpuLevel> supported = supported_cpu_levels();
  if (forced == nullptr || *forced == '\0') return supported.back();
  return parse_cpu_level(forced, supported);
}

// Initialised at the first call; a refused ROWSHARD_CPU_LEVEL throws from
// every call until the variable is fixed.
std::atomic<CpuLevel>& level_in_use() {
  static std::atomic<CpuLevel> level{level_at_start()};
  return level;
}

}  // namespace

std::string_view cpu_level_name(CpuLevel level) {
  switch (level) {
    case CpuLevel::baseline: return "baseline";
    case CpuLevel::avx2: return "avx2";
    case CpuLevel::avx512: return "avx512";
  }
  return "unknown";
}

std::vector<CpuLevel> supported_cpu_levels() {
  std::vector<CpuLevel> levels;
  for (CpuLevel level : kLevels)
    if (cpu_has(level)) levels.push_back(level);
  return levels;
}

CpuLevel parse_cpu_level(std::string_view name, std::span<const CpuLevel> supported) {
  for (CpuLevel level : kLevels) {
    if (cpu_level_name(level) != name) continue;
    if (std::find(supported.begin(), supported.end(), level) == supported.end())
      throw InvalidArgument(message("ROWSHARD_CPU_LEVEL=", name,
                                    ": this CPU lacks the instructions of that level; it has ",
                                    names_of(supported)));
    return level;
  }
  throw InvalidArgument(
      message("ROWSHARD_CPU_LEVEL='", name, "' is not a CPU level; valid: ", names_of(kLevels)));
}

CpuLevel cpu_level() { return level_in_use().load(std::memory_order_relaxed); }

void use_cpu_level(CpuLevel level) {
  if (!cpu_has(level))
    throw InvalidArgument(message("use_cpu_level: this CPU lacks the instructions of level ",
                                  cpu_level_name(level), "; it has ",
                                  names_of(supported_cpu_levels())));
  level_in_use().store(level, std::memory_order_relaxed);
}

namespace cpu {

const Kernels& kernels() {
  return of_cpu_level_in_use(baseline::kKernels, avx2::kKernels, avx512::kKernels);
}

}  // namespace cpu
}  // namespace rowshard
