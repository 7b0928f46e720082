// The host-side collectives of the NCCL communicator, over MPI at every
// world size: the counts before each all-to-all and a gather of small facts.
#include <gtest/gtest.h>

#include "rowshard/sharding/communicator.h"
#include "sharding/comm/nccl/bootstrap_collectives.h"

namespace rowshard {
namespace {

TEST(BootstrapCollectives, EachRankLearnsWhatEveryRankSendsIt) {
  const std::unique_ptr<Communicator> world = world_communicator();
  const int rank = world->rank();
  std::vector<int64_t> send_counts(world->size());
  for (int k = 0; k < world->size(); ++k) send_counts[k] = 100 * rank + k;
  const std::vector<int64_t> receive_counts = exchange_counts(*world, send_counts);
  ASSERT_EQ(static_cast<int>(receive_counts.size()), world->size());
  for (int k = 0; k < world->size(); ++k) EXPECT_EQ(receive_counts[k], 100 * k + rank);
}

TEST(BootstrapCollectives, EachRankGetsEveryRanksBytes) {
  const std::unique_ptr<Communicator> world = world_communicator();
  // Rank k gives k bytes of value k: rank 0 gives none.
  const std::vector<std::byte> mine(world->rank(), std::byte(world->rank()));
  const Received gathered = gather_from_every_rank(*world, mine);
  for (int k = 0; k < world->size(); ++k)
    EXPECT_EQ(std::vector<std::byte>(gathered.from(k).begin(), gathered.from(k).end()),
              std::vector<std::byte>(k, std::byte(k)));
}

}  // namespace
}  // namespace rowshard
