// The choice of transport for ranks on GPUs, under mpirun at every world
// size: a device that does not answer is reported on every rank, so none
// is left waiting for the others.
#include <gtest/gtest.h>

#include "rowshard/sharding/communicator.h"
#include "rowshard/sharding/nccl_communicator.h"

namespace rowshard {
namespace {

TEST(TransportForDevices, ADeviceThatDoesNotAnswerIsNamedOnEveryRank) {
  if (!nccl_is_built()) GTEST_SKIP() << "a build without NCCL asks no device";
  // No machine has a device 1000 (and without a driver, none answers), and
  // every rank's device fails with the same words.
  constexpr int kNoSuchDevice = 1000;
  std::string refusal;
  try {
    device_identity(kNoSuchDevice);
  } catch (const CommunicationError& error) {
    refusal = error.what();
  }
  ASSERT_FALSE(refusal.empty()) << "device " << kNoSuchDevice << " answered";
  const std::unique_ptr<Communicator> world = world_communicator();
  try {
    transport_for_devices(*world, kNoSuchDevice);
    ADD_FAILURE() << "a device that does not answer was given a transport";
  } catch (const CommunicationError& error) {
    EXPECT_EQ(std::string(error.what()), "rank 0: " + refusal);
  }
}

}  // namespace
}  // namespace rowshard
