// The NCCL communicator's host logic, which needs no GPU: where each peer's
// bytes lie, whom a stalled exchange names, how long it is waited for, and
// which transport ranks on GPUs use.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "rowshard/sharding/communicator.h"
#include "rowshard/sharding/nccl_communicator.h"
#include "sharding/comm/nccl/exchange_plan.h"
#include "sharding/comm/nccl/gpu_uuid.h"
#include "sharding/comm/nccl/poll.h"

namespace rowshard {
namespace {

TEST(ExchangePlan, PutsEachPeersBytesAfterThoseOfTheRanksBefore) {
  const std::vector<int64_t> send_counts = {3, 0, 5};
  const std::vector<int64_t> receive_counts = {2, 4, 0};
  const ExchangePlan plan = plan_exchange(send_counts, receive_counts);
  EXPECT_EQ(plan.send_offsets, (std::vector<int64_t>{0, 3, 3, 8}));
  EXPECT_EQ(plan.receive_offsets, (std::vector<int64_t>{0, 2, 6, 6}));
  EXPECT_EQ(plan.send_bytes(), 8);
  EXPECT_EQ(plan.receive_bytes(), 6);
  EXPECT_EQ(plan.send_count(2), 5);
  EXPECT_EQ(plan.receive_count(1), 4);
}

TEST(ExchangePlan, AStalledExchangeNamesThePeersWithBytesEitherWay) {
  // Rank 1 sends to rank 0 and 3, receives from 2, and has nothing with 4.
  const ExchangePlan plan =
      plan_exchange(std::vector<int64_t>{1, 7, 0, 2, 0}, std::vector<int64_t>{0, 7, 3, 0, 0});
  EXPECT_EQ(peers_in_flight(plan, 1), (std::vector<int>{0, 2, 3}));
}

TEST(ExchangePlan, AStalledExchangeWithItselfOnlyNamesThisRank) {
  const ExchangePlan plan =
      plan_exchange(std::vector<int64_t>{0, 9, 0}, std::vector<int64_t>{0, 9, 0});
  EXPECT_EQ(peers_in_flight(plan, 1), (std::vector<int>{1}));
}

TEST(ExchangePlan, AStalledStartNamesEveryOtherRank) {
  EXPECT_EQ(other_ranks(4, 2), (std::vector<int>{0, 1, 3}));
  EXPECT_EQ(other_ranks(1, 0), (std::vector<int>{}));
}

// A clock that moves one second each time it is read.
struct SteppingClock {
  double now = 0;
  double operator()() { return now += 1; }
};

TEST(PollUntilDone, ReturnsOnceTheWorkIsDone) {
  int polls = 0;
  EXPECT_TRUE(poll_until_done([&] { return ++polls == 3; }, 10, SteppingClock{}));
  EXPECT_EQ(polls, 3);
}

TEST(PollUntilDone, GivesUpOnceTheTimeoutHasPassed) {
  // Read at 1 (the start), then after each poll at 2, 3, 4: past 2.5 s.
  int polls = 0;
  EXPECT_FALSE(poll_until_done(
      [&] {
        ++polls;
        return false;
      },
      2.5, SteppingClock{}));
  EXPECT_EQ(polls, 3);
}

TEST(PollUntilDone, PassesOnWhatTheWorkReports) {
  EXPECT_THROW(poll_until_done([]() -> bool { throw CommunicationError("NCCL failed"); }, 10,
                               SteppingClock{}),
               CommunicationError);
}

TEST(PollUntilDone, EndsWorkThatNeverFinishesOnTheRealClock) {
  const double start = steady_clock_seconds();
  EXPECT_FALSE(poll_until_done([] { return false; }, 0.05));
  const double waited = steady_clock_seconds() - start;
  EXPECT_GE(waited, 0.05);
  EXPECT_LT(waited, 5);
}

TEST(GpuUuidText, IsWrittenAsNvidiaSmiWritesIt) {
  unsigned char uuid[16];
  for (int i = 0; i < 16; ++i) uuid[i] = static_cast<unsigned char>(i == 15 ? 0xef : i);
  EXPECT_EQ(gpu_uuid_text(uuid), "GPU-00010203-0405-0607-0809-0a0b0c0d0eef");
}

TEST(TransportForDevices, IsNcclWhenEveryRankHasAGpuOfItsOwn) {
  const std::vector<std::string> devices = {"GPU-a", "GPU-b", "GPU-c"};
  const DeviceTransportChoice choice = transport_for_devices(devices);
  EXPECT_EQ(choice.transport, DeviceTransport::nccl);
  EXPECT_EQ(choice.reason, "every rank has a GPU of its own");
  EXPECT_EQ(transport_for_devices(std::vector<std::string>{"GPU-a"}).transport,
            DeviceTransport::nccl);
}

TEST(TransportForDevices, IsStagedWhenRanksShareAGpuAndNamesThem) {
  const std::vector<std::string> devices = {"GPU-a", "GPU-a"};
  const DeviceTransportChoice choice = transport_for_devices(devices);
  EXPECT_EQ(choice.transport, DeviceTransport::staged);
  EXPECT_EQ(choice.reason, "ranks 0, 1 share GPU GPU-a");
}

TEST(TransportForDevices, NamesTheGpuOfTheLowestRankThatSharesOne) {
  // GPU-z sorts after GPU-a, but rank 0 shares it.
  const std::vector<std::string> devices = {"GPU-z", "GPU-a", "GPU-b", "GPU-a", "GPU-z"};
  EXPECT_EQ(transport_for_devices(devices).reason, "ranks 0, 4 share GPU GPU-z");
}

TEST(TransportForDevices, IsStagedWithoutAskingTheDevicesInABuildWithoutNccl) {
  if (nccl_is_built()) GTEST_SKIP() << "this build has NCCL";
  const std::unique_ptr<Communicator> comm = local_communicator();
  const DeviceTransportChoice choice = transport_for_devices(*comm, 0);
  EXPECT_EQ(choice.transport, DeviceTransport::staged);
  EXPECT_EQ(choice.reason,
            "this build has no NCCL (it is built only where CUDA and NCCL are found)");
  EXPECT_THROW(nccl_communicator(*comm, 0), InvalidArgument);
}

// A communicator that only says what its watchdog would.
class WatchdogProbe final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  Received alltoallv(std::span<const std::byte>, std::span<const int64_t>) override { return {}; }
  void barrier() override {}
  [[noreturn]] void abort(int code) override { std::exit(code); }

  std::string timeout_message() const { return timeout_error(std::vector<int>{1}).what(); }

  // What `borrower`'s watchdog says while this one lends it its own.
  std::string lent_timeout_message(WatchdogProbe& borrower) const {
    WatchdogLoan loan(*this, borrower);
    return borrower.timeout_message();
  }
};

TEST(WatchdogLoan, TheBorrowerTimesOutAsTheLenderWouldAndThenAsBefore) {
  WatchdogProbe lender;
  lender.set_timeout(2);
  lender.set_step(7);
  CollectivePhase evaluation(lender, Phase::evaluation);
  CollectivePhase exchange(lender, Phase::output_exchange);
  WatchdogProbe borrower;
  borrower.set_step(3);
  EXPECT_EQ(lender.lent_timeout_message(borrower),
            "collective timed out after 2 s at step 7, phase 'output exchange' during "
            "'evaluation': rank(s) 1 did not arrive");
  EXPECT_EQ(borrower.timeout_message(),
            "collective timed out after 300 s at step 3: rank(s) 1 did not arrive");
}

}  // namespace
}  // namespace rowshard
