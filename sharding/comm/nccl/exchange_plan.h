// Where one all-to-all's bytes lie in its staging buffers, on the host or
// the device: the NCCL communicator copies the whole send buffer to the GPU,
// sends and receives each peer's slice, and copies the whole receive buffer
// back, so the slices are the counts' prefix sums.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace rowshard {

struct ExchangePlan {
  // The bytes for rank k lie at send_offsets[k] .. send_offsets[k + 1] of
  // the send buffer, those from rank k at receive_offsets[k] ..
  // receive_offsets[k + 1] of the receive buffer; size() + 1 entries each.
  std::vector<int64_t> send_offsets;
  std::vector<int64_t> receive_offsets;

  int64_t send_bytes() const { return send_offsets.back(); }
  int64_t receive_bytes() const { return receive_offsets.back(); }
  int64_t send_count(int rank) const { return send_offsets[rank + 1] - send_offsets[rank]; }
  int64_t receive_count(int rank) const {
    return receive_offsets[rank + 1] - receive_offsets[rank];
  }
};

// From the bytes this rank sends to and receives from each rank (one count
// per rank, self included, none negative).
ExchangePlan plan_exchange(std::span<const int64_t> send_counts,
                           std::span<const int64_t> receive_counts);

// The ranks but `self` that this rank sends to or receives from: those an
// unfinished NCCL group may be waiting on, as NCCL does not say which of its
// transfers is missing. `self` alone when there are none (then this rank's
// own device did not finish).
std::vector<int> peers_in_flight(const ExchangePlan& plan, int self);

// Every rank of `size` but `self`: those a communicator's start may be
// waiting on.
std::vector<int> other_ranks(int size, int self);

}  // namespace rowshard
