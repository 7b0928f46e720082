// The NCCL communicator on GPUs (label gpu), under mpirun: one rank
// exchanging with itself; two ranks sharing device 0, which NCCL refuses
// and the staged transport serves; two ranks on GPUs of their own where the
// machine has them. Skipped, saying so, where no CUDA device answers.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <numeric>

#include "rowshard/sharding/communicator.h"
#include "rowshard/sharding/nccl_communicator.h"

namespace rowshard {
namespace {

// The devices this process sees; none when the count itself fails (without
// a driver it is error 35, not "0 devices").
int device_count() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess ? count : 0;
}

// What a skipped test says; CTest reports the test skipped when it sees it.
constexpr char kNoDevice[] = "no CUDA device answers";

std::vector<std::byte> pattern(int64_t bytes, int seed) {
  std::vector<std::byte> data(bytes);
  for (int64_t i = 0; i < bytes; ++i) data[i] = std::byte((i * 7 + seed * 31) & 0xff);
  return data;
}

TEST(NcclCommunicator, OneRankGetsBackTheBytesItSendsItself) {
  if (device_count() == 0) GTEST_SKIP() << kNoDevice;
  const std::unique_ptr<Communicator> world = world_communicator();
  if (world->size() != 1) GTEST_SKIP() << "a one-rank test";
  const std::unique_ptr<Communicator> comm = nccl_communicator(*world, 0);
  // Empty, small, then larger than both staging buffers so far.
  for (int64_t bytes : {0, 1000, 5 << 20}) {
    const std::vector<std::byte> send = pattern(bytes, 1);
    const std::vector<int64_t> counts = {bytes};
    const Received received = comm->alltoallv(send, counts);
    EXPECT_EQ(received.offsets, (std::vector<int64_t>{0, bytes}));
    EXPECT_EQ(received.data, send) << bytes << " bytes";
  }
  comm->barrier();
  EXPECT_EQ(comm->bytes_sent(), 0);
  EXPECT_EQ(comm->bytes_received(), 0);
}

TEST(NcclCommunicator, RanksSharingAGpuAreRefusedAndGivenTheStagedTransport) {
  if (device_count() == 0) GTEST_SKIP() << kNoDevice;
  const std::unique_ptr<Communicator> world = world_communicator();
  if (world->size() < 2) GTEST_SKIP() << "needs two ranks";
  std::string ranks = "0";
  for (int k = 1; k < world->size(); ++k) ranks += message(", ", k);
  const std::string reason = message("ranks ", ranks, " share GPU ", device_identity(0));
  const DeviceTransportChoice choice = transport_for_devices(*world, 0);
  EXPECT_EQ(choice.transport, DeviceTransport::staged);
  EXPECT_EQ(choice.reason, reason);
  try {
    nccl_communicator(*world, 0);
    ADD_FAILURE() << "two ranks on one GPU were given an NCCL communicator";
  } catch (const InvalidArgument& error) {
    EXPECT_NE(std::string(error.what()).find(reason), std::string::npos) << error.what();
  }
}

TEST(NcclCommunicator, RanksOnGpusOfTheirOwnExchangeTheirBytes) {
  if (device_count() == 0) GTEST_SKIP() << kNoDevice;
  const std::unique_ptr<Communicator> world = world_communicator();
  if (world->size() < 2 || device_count() < world->size())
    GTEST_SKIP() << "needs two ranks and a GPU for each";
  const int rank = world->rank();
  const int size = world->size();
  EXPECT_EQ(transport_for_devices(*world, rank).transport, DeviceTransport::nccl);
  const std::unique_ptr<Communicator> comm = nccl_communicator(*world, rank);
  // Rank r sends rank k (r + 1) * (k + 2) bytes, none to rank 0 from rank 1.
  std::vector<int64_t> counts(size);
  for (int k = 0; k < size; ++k) counts[k] = (rank == 1 && k == 0) ? 0 : (rank + 1) * (k + 2);
  std::vector<std::byte> send;
  for (int k = 0; k < size; ++k) {
    const std::vector<std::byte> part = pattern(counts[k], rank * size + k);
    send.insert(send.end(), part.begin(), part.end());
  }
  const Received received = comm->alltoallv(send, counts);
  int64_t expected_received = 0;
  for (int k = 0; k < size; ++k) {
    const int64_t bytes = (k == 1 && rank == 0) ? 0 : (k + 1) * (rank + 2);
    EXPECT_EQ(std::vector<std::byte>(received.from(k).begin(), received.from(k).end()),
              pattern(bytes, k * size + rank))
        << "from rank " << k;
    if (k != rank) expected_received += bytes;
  }
  EXPECT_EQ(comm->bytes_received(), expected_received);
  EXPECT_EQ(comm->bytes_sent(),
            std::accumulate(counts.begin(), counts.end(), int64_t{0}) - counts[rank]);
}

}  // namespace
}  // namespace rowshard
