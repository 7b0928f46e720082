#include "sharding/comm/nccl/exchange_plan.h"

#include "rowshard/engine/error.h"

namespace rowshard {
namespace {

std::vector<int64_t> prefix_sums(std::span<const int64_t> counts) {
  std::vector<int64_t> offsets(counts.size() + 1, 0);
  for (std::size_t k = 0; k < counts.size(); ++k) {
    ROWSHARD_ASSERT(counts[k] >= 0);
    offsets[k + 1] = offsets[k] + counts[k];
  }
  return offsets;
}

}  // namespace

ExchangePlan plan_exchange(std::span<const int64_t> send_counts,
                           std::span<const int64_t> receive_counts) {
  ROWSHARD_ASSERT(send_counts.size() == receive_counts.size());
  return {prefix_sums(send_counts), prefix_sums(receive_counts)};
}

std::vector<int> peers_in_flight(const ExchangePlan& plan, int self) {
  std::vector<int> peers;
  const int size = static_cast<int>(plan.send_offsets.size()) - 1;
  for (int k = 0; k < size; ++k)
    if (k != self && (plan.send_count(k) > 0 || plan.receive_count(k) > 0)) peers.push_back(k);
  if (peers.empty()) peers.push_back(self);
  return peers;
}

std::vector<int> other_ranks(int size, int self) {
  std::vector<int> others;
  for (int k = 0; k < size; ++k)
    if (k != self) others.push_back(k);
  return others;
}

}  // namespace rowshard
