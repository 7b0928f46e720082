// Picks, of something compiled once per CPU level, the copy of the level in
// use (rowshard::cpu_level()): the engine's kernel table and the training
// job's dense-model kernels both dispatch this way.
#pragma once

#include "rowshard/engine/cpu_level.h"

namespace rowshard {

template <typename PerLevel>
const PerLevel& of_cpu_level_in_use(const PerLevel& baseline, const PerLevel& avx2,
                                    const PerLevel& avx512) {
  switch (cpu_level()) {
    case CpuLevel::baseline: return baseline;
    case CpuLevel::avx2: return avx2;
    case CpuLevel::avx512: return avx512;
  }
  return baseline;
}

}  // namespace rowshard
