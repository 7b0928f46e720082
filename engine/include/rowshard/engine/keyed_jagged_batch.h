// KeyedJaggedBatch: the sparse input of a collection, in TorchRec's
// KeyedJaggedTensor layout. For F features over a batch of B examples:
//
//   keys     [F]: the features' names, in the collection's config order; a
//            collection refuses a batch whose keys differ, naming the
//            feature, so features are never matched by position alone
//   values   all ids, feature 0's first, then feature 1's, ...; within a
//            feature, example 0's ids, then example 1's, ...
//   lengths  [F * B]: lengths[f * B + b] = how many ids example b has for
//            feature f                          (give lengths or offsets)
//   offsets  [F * B + 1]: where each (feature, example) bag starts in
//            values, the last entry being values.size()
//   weights  optional, as long as values: per-sample weights, read only for
//            features configured as weighted
//
// Non-owning views: the caller keeps the arrays alive during the call.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rowshard {

struct KeyedJaggedBatch {
  std::span<const std::string> keys{};
  int64_t batch_size = 0;
  std::span<const int64_t> values{};
  std::span<const int64_t> lengths{};
  std::span<const int64_t> offsets{};
  std::optional<std::span<const float>> weights{};
};

// The F * B + 1 bag boundaries of `batch` (the offsets, or the running sum
// of the lengths), after checking that its keys are `feature_names`, that
// exactly one of lengths and offsets is given and that it describes exactly
// `values`. Throws InvalidArgument (OutOfRange for a value past the end)
// naming `owner`, the feature and the example.
// The position of `feature` among `feature_names`; throws InvalidArgument
// naming `owner`, the feature and the features there are.
int64_t feature_position(std::string_view owner, std::span<const std::string> feature_names,
                         std::string_view feature);

std::vector<int64_t> jagged_bounds(std::string_view owner, const KeyedJaggedBatch& batch,
                                   std::span<const std::string> feature_names);

}  // namespace rowshard
