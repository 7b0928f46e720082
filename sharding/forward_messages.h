// What a sharded forward has in flight between its phases: the entries
// bound for each owner, and the messages of its two exchanges (ids out to
// the owners, partial results back). Internal to sharding/.
//
// The ids message from a source to owner k, per routed feature in order:
//   ints:    [batch size] [lengths: routed features x batch] [non-padding
//            entry counts of the bags of each route to k] [each entry's slot
//            among its table's distinct rows, entry by entry]
//   rows:    per routed table, [distinct count] [distinct local rows]
//   weights: per entry of weighted features.
// The replies and the backward's gradients follow the routes' Segments.
#pragma once

#include <cstdint>
#include <vector>

#include "rowshard/sharding/collectives.h"

namespace rowshard::detail {

// The messages of one exchange, one array per destination rank, flattened
// for Communicator::alltoallv.
template <typename T>
struct Outbox {
  explicit Outbox(int ranks) : to(ranks) {}
  std::vector<std::vector<T>> to;

  // Sends the messages and gives up their storage: a rank alone receives
  // its one message as it is.
  ReceivedArrays<T> send(Communicator& comm) && {
    std::vector<int64_t> counts;
    for (const auto& part : to) counts.push_back(static_cast<int64_t>(part.size()));
    if (to.size() == 1) return exchange<T>(comm, std::move(to[0]), counts);
    std::vector<T> flat;
    for (const auto& part : to) flat.insert(flat.end(), part.begin(), part.end());
    return exchange<T>(comm, std::move(flat), counts);
  }
};

// What arrives when every rank skips an exchange none of them needs.
template <typename T>
ReceivedArrays<T> nothing_received(int ranks) {
  return {{}, std::vector<int64_t>(ranks + 1, 0)};
}

// Source side: the entries of this rank's batch bound for each owner.
struct OutgoingIds {
  OutgoingIds(int ranks, int64_t num_routed, int64_t batch_size)
      : batch_size(batch_size),
        lengths(ranks,
                std::vector<std::vector<int32_t>>(num_routed, std::vector<int32_t>(batch_size, 0))),
        rows(ranks, std::vector<std::vector<int64_t>>(num_routed)),
        weights(ranks, std::vector<std::vector<float>>(num_routed)),
        bag_entries(num_routed, std::vector<int64_t>(batch_size, 0)) {}

  int64_t batch_size;
  // [owner][routed feature][bag]: how many of the bag's entries go to it.
  std::vector<std::vector<std::vector<int32_t>>> lengths;
  // [owner][routed feature]: the global rows of those entries, in order.
  std::vector<std::vector<std::vector<int64_t>>> rows;
  // [owner][routed feature]: the weights of those entries, for weighted
  // features.
  std::vector<std::vector<std::vector<float>>> weights;
  // [routed feature][bag]: the bag's non-padding entries, all owners.
  std::vector<std::vector<int64_t>> bag_entries;
};

struct ReceivedIds {
  ReceivedArrays<int32_t> ints;
  ReceivedArrays<int64_t> rows;
  ReceivedArrays<float> weights;
};

// Owner side: the partial results going back to each source, and the
// winners' positions for max features.
struct Replies {
  explicit Replies(int ranks) : partials(ranks), winners(ranks) {}
  Outbox<float> partials;
  Outbox<int64_t> winners;
};

struct ReceivedReplies {
  ReceivedArrays<float> partials;
  ReceivedArrays<int64_t> winners;
};

}  // namespace rowshard::detail
