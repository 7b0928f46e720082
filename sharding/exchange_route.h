// The routes of a sharded exchange: which bags of a source rank's batch send
// entries to which owner rank, and where each bag's rows sit in the float
// messages between the two. The forward builds the routes once; the owners'
// partial results come back along them and the backward sends each bag's
// gradient out along them, in the same layout. Internal to sharding/.
#pragma once

#include <cstdint>
#include <vector>

namespace rowshard::detail {

// One routed feature's part of the float messages between a source and an
// owner: `num_bags` rows of `width` floats (the owner's columns of the
// table) from `offset`, both in the partial results the owner sends back
// and in the gradients the source sends it; for max features also one
// winner position per float, from `winner_offset` in the winners the owner
// sends back.
struct Segment {
  int64_t num_bags = 0;
  int64_t width = 0;
  int64_t offset = 0;
  int64_t winner_offset = 0;
};

// Places the routed features' segments in the messages between a source and
// an owner, feature after feature in routed-feature order. Each end lays out
// its side with this from the same bag counts, so both ends agree.
class MessageLayout {
 public:
  Segment place(int64_t num_bags, int64_t width, bool max_feature) {
    const Segment segment{num_bags, width, floats_, winners_};
    floats_ += num_bags * width;
    if (max_feature) winners_ += num_bags * width;
    return segment;
  }
  int64_t floats() const { return floats_; }

 private:
  int64_t floats_ = 0;
  int64_t winners_ = 0;
};

// Source side: the bags of this rank's batch that send entries of one
// routed feature to one owner.
struct Route {
  std::vector<int64_t> bags;  // in bag order
  // Max features: the batch positions of the entries sent, bag after bag
  // (the owner reports winners as indices into this list).
  std::vector<int64_t> positions;
  Segment segment;
};

// Source side: every route of this rank's batch.
struct RouteTable {
  std::vector<std::vector<Route>> to;  // [owner][routed feature]
  std::vector<int64_t> floats_to;      // [owner]: the floats of its messages
};

}  // namespace rowshard::detail
