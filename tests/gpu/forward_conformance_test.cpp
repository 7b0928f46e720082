// Every conformance case's forward on a cuda table: the output (and the
// table after it, for max_norm) against the case's expected arrays, within
// the case's tolerance, and against the CPU engine bit for bit (both pool
// each bag in position order with the same fp32 operations). Error cases
// must be refused with their kind of error, leaving the table as it was.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "rowshard/engine/error.h"
#include "tests/conformance/compare.h"
#include "tests/conformance/run_case.h"
#include "tests/gpu/cuda_device.h"

namespace rowshard::conformance {
namespace {

std::vector<std::string> case_directories() {
  std::vector<std::string> directories;
  for (const auto& entry : std::filesystem::directory_iterator(ROWSHARD_CONFORMANCE_CASES))
    if (std::filesystem::exists(entry.path() / "case.json"))
      directories.push_back(entry.path().string());
  std::sort(directories.begin(), directories.end());
  return directories;
}

std::vector<uint32_t> bits_of(std::span<const float> values) {
  std::vector<uint32_t> bits(values.size());
  std::memcpy(bits.data(), values.data(), values.size_bytes());
  return bits;
}

// The kind of error the case's forward on a cuda table is refused with.
std::string refusal_of(const Case& c) {
  try {
    std::unique_ptr<Table> table = make_table(c, Device::cuda);
    forward(*table, c);
  } catch (const OutOfRange&) {
    return "out_of_range";
  } catch (const InvalidArgument&) {
    return "invalid_argument";
  }
  return "no error";
}

class ForwardConformance : public testing::CudaTestWithParam<std::string> {};

TEST_P(ForwardConformance, CudaTableGivesTheExpectedAndTheCpuEnginesBits) {
  const Case c = load_case(GetParam());
  if (c.expect_error) {
    const std::string refusal = refusal_of(c);
    if (*c.expect_error == "invalid_argument" && refusal == "out_of_range") return;
    EXPECT_EQ(refusal, *c.expect_error);
    return;
  }
  std::unique_ptr<Table> gpu = make_table(c, Device::cuda);
  std::unique_ptr<Table> cpu = make_table(c, Device::cpu);
  ASSERT_EQ(gpu->weights().placement(), MemoryPlacement::cuda_device);
  const Lookup on_gpu = forward(*gpu, c);
  const Lookup on_cpu = forward(*cpu, c);

  const Tolerance tolerance{c.rtol, c.atol};
  try {
    compare("output", c.output, on_gpu.output.shape, on_gpu.output.values, tolerance);
    compare("weight_after_forward", c.weight_after_forward, c.weight.shape, table_values(*gpu),
            tolerance);
  } catch (const Mismatch& mismatch) {
    FAIL() << mismatch.detail;
  }
  EXPECT_EQ(on_gpu.output.shape, on_cpu.output.shape);
  EXPECT_EQ(bits_of(on_gpu.output.values), bits_of(on_cpu.output.values));
  EXPECT_EQ(on_gpu.saved.max_positions, on_cpu.saved.max_positions);
  EXPECT_EQ(bits_of(table_values(*gpu)), bits_of(table_values(*cpu)));
}

std::string case_name(const ::testing::TestParamInfo<std::string>& info) {
  return std::filesystem::path(info.param).filename().string();
}

INSTANTIATE_TEST_SUITE_P(Cases, ForwardConformance, ::testing::ValuesIn(case_directories()),
                         case_name);

}  // namespace
}  // namespace rowshard::conformance
