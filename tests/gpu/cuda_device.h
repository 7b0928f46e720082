// GPU tests run where a CUDA device answers and skip everywhere else (a
// build without CUDA, no driver, no device), naming the reason; CTest
// reports a skipped GoogleTest as Skipped, never as Passed
// (gtest_discover_tests matches its "[  SKIPPED ]").
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "engine/cuda/cuda_backend.h"

namespace rowshard::testing {

// A test that needs a CUDA device: skipped, with the reason, without one.
class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string reason = cuda::unavailable_reason();
    if (!reason.empty()) GTEST_SKIP() << reason;
  }
};

// The same for parameterised tests.
template <typename Param>
class CudaTestWithParam : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    const std::string reason = cuda::unavailable_reason();
    if (!reason.empty()) GTEST_SKIP() << reason;
  }
};

}  // namespace rowshard::testing
