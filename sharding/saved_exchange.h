// What a sharded forward keeps for its backward, on both sides of the
// exchange. Internal to sharding/.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/lookup_state.h"

namespace rowshard::detail {

// Source side: the bags of this rank's batch that sent entries to one owner
// for one routed feature, in bag order.
struct Route {
  std::vector<int64_t> bags;
  // Max features: the batch positions of the entries sent, bag after bag
  // (the owner reports winners as indices into this list).
  std::vector<int64_t> positions;
};

// Owner side: what one source rank asked of one routed feature, as a batch
// over this rank's shard (bags are the source's non-empty bags for us).
struct OwnerBlock {
  std::vector<int64_t> indices;  // local rows
  std::vector<int64_t> bounds;
  std::vector<float> weights;    // weighted features only
  std::vector<int64_t> entries;  // each bag's non-padding entries, all owners
  std::vector<int64_t> max_positions;  // [bags, local dim], max features only
  int64_t reply_offset = 0;      // where its rows start in the reply to the source
};

struct SavedExchange : LookupState {
  int64_t batch_size = 0;
  // This rank's own batch.
  std::vector<int64_t> values;
  std::vector<int64_t> bounds;
  std::vector<float> weights;
  // Output-shaped winners of data-parallel max features.
  std::vector<int64_t> local_max_positions;
  // [owner][routed feature]
  std::vector<std::vector<Route>> routes;
  // [routed feature]: for row-routed max features, the rank whose row won
  // each (bag, column) of this rank's output, -1 where the bag was empty.
  std::vector<std::vector<int32_t>> winner_rank;
  // [routed feature * world size + source]
  std::vector<OwnerBlock> blocks;
};

}  // namespace rowshard::detail
