// Typed helpers over Communicator's byte-level collectives.
#pragma once

#include <algorithm>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "rowshard/sharding/communicator.h"

namespace rowshard {

// What arrived from each rank, as typed arrays.
template <typename T>
struct ReceivedArrays {
  std::vector<T> data;
  std::vector<int64_t> offsets;  // size() + 1 entries, in elements

  std::span<const T> from(int rank) const {
    return std::span(data).subspan(offsets[rank], offsets[rank + 1] - offsets[rank]);
  }
};

// Sends counts[k] elements of `send` (in rank order) to rank k.
template <typename T>
ReceivedArrays<T> exchange(Communicator& comm, std::span<const T> send,
                           std::span<const int64_t> counts) {
  static_assert(std::is_trivially_copyable_v<T>);
  if (comm.size() == 1) return {{send.begin(), send.end()}, {0, counts[0]}};  // to itself
  std::vector<int64_t> byte_counts(counts.begin(), counts.end());
  for (int64_t& c : byte_counts) c *= static_cast<int64_t>(sizeof(T));
  const Received received = comm.alltoallv(std::as_bytes(send), byte_counts);
  ReceivedArrays<T> out;
  out.data.resize(received.data.size() / sizeof(T));
  if (!received.data.empty())
    std::memcpy(out.data.data(), received.data.data(), received.data.size());
  out.offsets = received.offsets;
  for (int64_t& o : out.offsets) o /= static_cast<int64_t>(sizeof(T));
  return out;
}

// The same, taking `send` over: a rank alone keeps it as what arrived,
// without a copy.
template <typename T>
ReceivedArrays<T> exchange(Communicator& comm, std::vector<T>&& send,
                           std::span<const int64_t> counts) {
  if (comm.size() == 1) return {std::move(send), {0, counts[0]}};
  return exchange<T>(comm, std::span<const T>(send), counts);
}

// Every rank's `text`, indexed by rank, on every rank.
inline std::vector<std::string> allgather_text(Communicator& comm, const std::string& text) {
  std::vector<char> send;
  for (int k = 0; k < comm.size(); ++k) send.insert(send.end(), text.begin(), text.end());
  const std::vector<int64_t> counts(comm.size(), static_cast<int64_t>(text.size()));
  const ReceivedArrays<char> received = exchange<char>(comm, send, counts);
  std::vector<std::string> texts;
  for (int k = 0; k < comm.size(); ++k) {
    const std::span<const char> part = received.from(k);
    texts.emplace_back(part.begin(), part.end());
  }
  return texts;
}

// Element-wise sum over all ranks, in place. Rank k sums slice k of the
// array over ranks 0, 1, ..., W-1 in that order and sends the result to
// everyone, so every rank gets the same bits, whatever the backend's own
// reduction algorithms would have done.
template <typename T>
void allreduce_sum(Communicator& comm, std::span<T> values) {
  const int ranks = comm.size();
  if (ranks == 1) return;
  const auto count = static_cast<int64_t>(values.size());
  auto slice_begin = [&](int k) { return count * k / ranks; };
  std::vector<int64_t> counts(ranks);
  for (int k = 0; k < ranks; ++k) counts[k] = slice_begin(k + 1) - slice_begin(k);

  const ReceivedArrays<T> slices = exchange<T>(comm, std::span<const T>(values), counts);
  const int me = comm.rank();
  std::vector<T> reduced(counts[me], T{});
  for (int k = 0; k < ranks; ++k) {
    const std::span<const T> part = slices.from(k);
    for (std::size_t i = 0; i < reduced.size(); ++i) reduced[i] += part[i];
  }

  std::vector<T> repeated;
  repeated.reserve(reduced.size() * ranks);
  for (int k = 0; k < ranks; ++k) repeated.insert(repeated.end(), reduced.begin(), reduced.end());
  const std::vector<int64_t> same(ranks, static_cast<int64_t>(reduced.size()));
  const ReceivedArrays<T> gathered = exchange<T>(comm, std::span<const T>(repeated), same);
  std::copy(gathered.data.begin(), gathered.data.end(), values.begin());
}

}  // namespace rowshard
