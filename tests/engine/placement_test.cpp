// Where tables and optimizer state live (MemoryPlacement), and the refusals
// of CUDA placements where no CUDA device answers: this suite's machine, a
// build without CUDA or one with CUDA and no driver. With a device these
// tests skip; tests/gpu covers that side.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>

#include "engine/cuda/cuda_backend.h"
#include "rowshard/engine/embedding_bag.h"
#include "rowshard/engine/error.h"
#include "rowshard/engine/optimizers/optimizer_config.h"

namespace rowshard {
namespace {

std::string error_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const InvalidArgument& error) {
    return error.what();
  } catch (const Error& error) {
    return std::string("not an InvalidArgument: ") + error.what();
  }
  return "no error";
}

#define SKIP_WHERE_A_DEVICE_ANSWERS() \
  if (cuda::unavailable_reason().empty()) GTEST_SKIP() << "a CUDA device answers"

TEST(MemoryPlacement, ACpuTableIsOnTheHostWhateverItsCudaMemory) {
  EXPECT_EQ(memory_placement(Device::cpu, CudaMemory::device), MemoryPlacement::host);
  EXPECT_EQ(memory_placement(Device::cpu, CudaMemory::host_mapped), MemoryPlacement::host);
  EXPECT_EQ(memory_placement(Device::cuda, CudaMemory::device), MemoryPlacement::cuda_device);
  EXPECT_EQ(memory_placement(Device::cuda, CudaMemory::host_mapped),
            MemoryPlacement::cuda_host_mapped);
  EmbeddingBagOptions options;
  options.num_embeddings = 4;
  options.embedding_dim = 2;
  options.cuda_memory = CudaMemory::host_mapped;
  EXPECT_EQ(EmbeddingBag(options).placement(), MemoryPlacement::host);
  EXPECT_EQ(EmbeddingBag(options).weights().placement(), MemoryPlacement::host);
}

TEST(MemoryPlacement, HostStorageNeedsNoDevice) {
  const RowStorage storage = RowStorage::allocate(3, 2, DType::f16);
  EXPECT_EQ(storage.placement(), MemoryPlacement::host);
  cuda::prefetch_to_device(storage);  // nothing to move
  EXPECT_EQ(RowStorage::copy_of(std::vector<float>(4), 2, 2).placement(), MemoryPlacement::host);
  for (OptimizerKind kind :
       {OptimizerKind::sgd, OptimizerKind::adagrad, OptimizerKind::rowwise_adagrad})
    EXPECT_EQ(make_optimizer({.kind = kind}, 10, 4)->state_placement(), MemoryPlacement::host);
}

TEST(MemoryPlacement, CudaStorageIsRefusedWithTheReasonWhereNoDeviceAnswers) {
  SKIP_WHERE_A_DEVICE_ANSWERS();
  const std::string reason = cuda::unavailable_reason();
  for (MemoryPlacement placement :
       {MemoryPlacement::cuda_device, MemoryPlacement::cuda_host_mapped}) {
    EXPECT_THAT(error_of([&] { RowStorage::allocate(1000, 8, DType::f32, placement); }),
                ::testing::AllOf(::testing::HasSubstr("GPU memory for 32000 bytes: "),
                                 ::testing::HasSubstr(reason)));
  }
  EXPECT_EQ(cuda::device_memory_info(), std::nullopt);
}

TEST(MemoryPlacement, ACudaTableIsRefusedWithTheReasonBeforeAnythingIsAllocated) {
  SKIP_WHERE_A_DEVICE_ANSWERS();
  EmbeddingBagOptions options;
  options.name = "huge";
  // Far more than any machine has: allocating it first would be refused
  // as OutOfMemory instead of naming the device's reason.
  options.num_embeddings = int64_t{1} << 40;
  options.embedding_dim = 1024;
  options.device = Device::cuda;
  for (CudaMemory memory : {CudaMemory::device, CudaMemory::host_mapped}) {
    options.cuda_memory = memory;
    EXPECT_EQ(error_of([&] { EmbeddingBag bag(options); }),
              "EmbeddingBag 'huge': device cuda: " + cuda::unavailable_reason());
  }
}

TEST(MemoryPlacement, AnOptimizerForACudaTableIsRefusedWithTheReasonWhereNoDeviceAnswers) {
  SKIP_WHERE_A_DEVICE_ANSWERS();
  for (OptimizerKind kind : {OptimizerKind::adagrad, OptimizerKind::rowwise_adagrad}) {
    OptimizerConfig config;
    config.kind = kind;
    EXPECT_THAT(error_of([&] { make_optimizer(config, 10, 4, MemoryPlacement::cuda_device); }),
                ::testing::HasSubstr(cuda::unavailable_reason()));
  }
  // SGD keeps no state, so it has nothing to place.
  EXPECT_NE(make_optimizer({.kind = OptimizerKind::sgd}, 10, 4, MemoryPlacement::cuda_device),
            nullptr);
}

TEST(MemoryPlacement, TheCudaBuildNamesTheDriversErrorAsTheReason) {
  SKIP_WHERE_A_DEVICE_ANSWERS();
  if (!cuda::is_built()) GTEST_SKIP() << "this build has no CUDA";
  // Any error of cudaGetDeviceCount counts, not only "0 devices" (without
  // a driver it is error 35).
  EXPECT_THAT(cuda::unavailable_reason(),
              ::testing::MatchesRegex("no CUDA device answers \\(cudaGetDeviceCount: .*\\)"));
}

}  // namespace
}  // namespace rowshard
