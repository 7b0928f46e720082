// What a sharded forward keeps for its backward, on both sides of the
// exchange. Internal to sharding/.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/lookup_state.h"
#include "sharding/exchange_route.h"

namespace rowshard::detail {

// Owner side: what one source rank asked of one routed feature, as a batch
// over this rank's shard (bags are the source's non-empty bags for us).
struct OwnerBlock {
  std::vector<int64_t> indices;  // local rows
  std::vector<int64_t> bounds;
  std::vector<float> weights;          // weighted features only
  std::vector<int64_t> entries;        // each bag's non-padding entries, all owners
  std::vector<int64_t> max_positions;  // [bags, local dim], max features only
  Segment segment;                     // where its rows travel between us and the source
};

struct SavedExchange : LookupState {
  int64_t batch_size = 0;
  // This rank's own batch.
  std::vector<int64_t> values;
  std::vector<int64_t> bounds;
  std::vector<float> weights;
  // Output-shaped winners of data-parallel max features.
  std::vector<int64_t> local_max_positions;
  RouteTable routes;
  // [routed feature]: for row-routed max features, the rank whose row won
  // each (bag, column) of this rank's output, -1 where the bag was empty.
  std::vector<std::vector<int32_t>> winner_rank;
  // [routed feature * world size + source]
  std::vector<OwnerBlock> blocks;
};

}  // namespace rowshard::detail
