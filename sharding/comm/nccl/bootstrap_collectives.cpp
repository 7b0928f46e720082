#include "sharding/comm/nccl/bootstrap_collectives.h"

#include <cstring>

namespace rowshard {

std::vector<int64_t> exchange_counts(Communicator& bootstrap,
                                     std::span<const int64_t> send_counts) {
  const int size = bootstrap.size();
  ROWSHARD_ASSERT(static_cast<int>(send_counts.size()) == size);
  const std::vector<int64_t> count_bytes(size, sizeof(int64_t));
  const Received received = bootstrap.alltoallv(std::as_bytes(send_counts), count_bytes);
  ROWSHARD_ASSERT(received.data.size() == size * sizeof(int64_t));
  std::vector<int64_t> receive_counts(size);
  std::memcpy(receive_counts.data(), received.data.data(), received.data.size());
  return receive_counts;
}

Received gather_from_every_rank(Communicator& bootstrap, std::span<const std::byte> mine) {
  const int size = bootstrap.size();
  std::vector<std::byte> send;
  send.reserve(mine.size() * size);
  for (int k = 0; k < size; ++k) send.insert(send.end(), mine.begin(), mine.end());
  const std::vector<int64_t> counts(size, static_cast<int64_t>(mine.size()));
  return bootstrap.alltoallv(send, counts);
}

}  // namespace rowshard
