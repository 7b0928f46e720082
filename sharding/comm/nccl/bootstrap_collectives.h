// The host-side collectives a device communicator runs over its bootstrap
// communicator (MPI's world): the counts before each all-to-all, and the
// small facts every rank must share before NCCL starts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "rowshard/sharding/communicator.h"

namespace rowshard {

// What every rank sends here: this rank's send_counts[k] is rank k's entry
// `rank()` of the result. One count per rank, self included.
std::vector<int64_t> exchange_counts(Communicator& bootstrap, std::span<const int64_t> send_counts);

// Sends `mine` to every rank (self included); from(k) of the result is what
// rank k gave.
Received gather_from_every_rank(Communicator& bootstrap, std::span<const std::byte> mine);

}  // namespace rowshard
