// The collective watchdog under mpirun: a collective that waits too long for
// a rank ends with a CollectiveTimeout naming the step, the phase and the
// late rank, instead of waiting forever.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "rowshard/engine/error.h"
#include "rowshard/sharding/communicator.h"

namespace rowshard {
namespace {

TEST(CollectiveWatchdog, ABarrierNamesTheRankThatIsLate) {
  // A fresh communicator: one that timed out cannot be used again.
  const std::unique_ptr<Communicator> comm = world_communicator();
  if (comm->size() < 2) GTEST_SKIP() << "needs a second rank to wait for";
  const int late = comm->size() - 1;
  comm->set_timeout(1);
  comm->set_step(7);
  CollectivePhase saving(*comm, Phase::checkpoint_save);
  if (comm->rank() == late) {
    std::this_thread::sleep_for(std::chrono::seconds(3));
    comm->barrier();  // everyone else's messages are here already
    return;
  }
  CollectivePhase phase(*comm, Phase::all_reduce);
  try {
    comm->barrier();
    ADD_FAILURE() << "the barrier returned without rank " << late;
    return;
  } catch (const CollectiveTimeout& error) {
    EXPECT_EQ(std::string(error.what()),
              message("collective timed out after 1 s at step 7, phase 'all-reduce' during "
                      "'checkpoint save': rank(s) ",
                      late, " did not arrive"));
  }
  EXPECT_THROW(comm->barrier(), CommunicationError);
}

TEST(CollectiveWatchdog, RefusesATimeoutOutOfRange) {
  const std::unique_ptr<Communicator> comm = local_communicator();
  EXPECT_EQ(comm->timeout_seconds(), 300);
  EXPECT_THROW(comm->set_timeout(0), InvalidArgument);
  EXPECT_THROW(comm->set_timeout(-1), InvalidArgument);
  EXPECT_THROW(comm->set_timeout(1e9), InvalidArgument);
  comm->set_timeout(0.25);
  EXPECT_EQ(comm->timeout_seconds(), 0.25);
}

}  // namespace
}  // namespace rowshard
