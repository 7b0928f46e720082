// Skips every test of a run whose ROWSHARD_CPU_LEVEL this CPU lacks: ctest
// runs some test programs once per level (tests/engine/CMakeLists.txt,
// tests/training/CMakeLists.txt). Include it in one file of the program.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>

#include "rowshard/engine/cpu_level.h"

namespace rowshard {

class SkipLevelsThisCpuLacks : public ::testing::Environment {
 public:
  void SetUp() override {
    const char* forced = std::getenv("ROWSHARD_CPU_LEVEL");
    if (forced == nullptr) return;
    for (CpuLevel level : supported_cpu_levels())
      if (cpu_level_name(level) == forced) return;
    GTEST_SKIP() << "this CPU lacks ROWSHARD_CPU_LEVEL=" << forced;
  }
};

inline ::testing::Environment* const kSkipLevelsThisCpuLacks =
    ::testing::AddGlobalTestEnvironment(new SkipLevelsThisCpuLacks);

}  // namespace rowshard
