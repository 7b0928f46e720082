#include "rowshard/engine/keyed_jagged_batch.h"

#include <string>

#include "rowshard/engine/error.h"

namespace rowshard {
namespace {

// "feature 'clicks', example 3": where bag i of a [F, B] layout belongs.
std::string bag_name(std::span<const std::string> feature_names, int64_t batch_size, int64_t bag) {
  return message("feature '", feature_names[bag / batch_size], "', example ", bag % batch_size);
}

std::string joined(std::span<const std::string> names) {
  std::string text;
  for (const std::string& name : names) text += (text.empty() ? "'" : ", '") + name + "'";
  return text;
}

void check_keys(std::string_view owner, std::span<const std::string> keys,
                std::span<const std::string> feature_names) {
  if (keys.size() != feature_names.size())
    throw InvalidArgument(message(owner, ": the batch has ", keys.size(),
                                  " keys, but the features are ", joined(feature_names),
                                  " (keys name the batch's features, in this order)"));
  for (std::size_t f = 0; f < keys.size(); ++f)
    if (keys[f] != feature_names[f])
      throw InvalidArgument(message(owner, ": the batch's feature ", f, " is '", keys[f],
                                    "' but feature ", f, " is '", feature_names[f],
                                    "'; keys must list the features ", joined(feature_names),
                                    " in this order"));
}

}  // namespace

int64_t feature_position(std::string_view owner, std::span<const std::string> feature_names,
                         std::string_view feature) {
  for (std::size_t f = 0; f < feature_names.size(); ++f)
    if (feature_names[f] == feature) return static_cast<int64_t>(f);
  throw InvalidArgument(
      message(owner, ": no feature '", feature, "'; the features are ", joined(feature_names)));
}

std::vector<int64_t> jagged_bounds(std::string_view owner, const KeyedJaggedBatch& batch,
                                   std::span<const std::string> feature_names) {
  check_keys(owner, batch.keys, feature_names);
  const auto num_features = static_cast<int64_t>(feature_names.size());
  const int64_t num_bags = num_features * batch.batch_size;
  const auto num_values = static_cast<int64_t>(batch.values.size());
  if (batch.batch_size < 0)
    throw InvalidArgument(message(owner, ": batch_size ", batch.batch_size, " must be >= 0"));
  if (batch.lengths.empty() == batch.offsets.empty() && num_bags > 0)
    throw InvalidArgument(message(owner, ": give exactly one of lengths and offsets, got ",
                                  batch.lengths.empty() ? "neither" : "both"));
  if (batch.weights && static_cast<int64_t>(batch.weights->size()) != num_values)
    throw InvalidArgument(message(owner, ": weights has ", batch.weights->size(),
                                  " elements, expected one per value, ", num_values));

  std::vector<int64_t> bounds(num_bags + 1, 0);
  if (!batch.offsets.empty() || num_bags == 0) {
    if (static_cast<int64_t>(batch.offsets.size()) != num_bags + 1 && num_bags > 0)
      throw InvalidArgument(
          message(owner, ": offsets has ", batch.offsets.size(),
                  " entries, expected features * batch_size + 1 = ", num_bags + 1));
    if (num_bags == 0) {
      if (num_values != 0)
        throw InvalidArgument(message(owner, ": ", num_values, " values but no bags"));
      return bounds;
    }
    if (batch.offsets[0] != 0)
      throw InvalidArgument(message(owner, ": offsets[0] must be 0, got ", batch.offsets[0]));
    for (int64_t i = 1; i <= num_bags; ++i) {
      if (batch.offsets[i] < batch.offsets[i - 1])
        throw InvalidArgument(message(owner, ": offsets must not decrease, but offsets[", i,
                                      "] = ", batch.offsets[i], " < offsets[", i - 1,
                                      "] = ", batch.offsets[i - 1], " (",
                                      bag_name(feature_names, batch.batch_size, i - 1), ")"));
      bounds[i] = batch.offsets[i];
    }
  } else {
    if (static_cast<int64_t>(batch.lengths.size()) != num_bags)
      throw InvalidArgument(message(owner, ": lengths has ", batch.lengths.size(),
                                    " entries, expected features * batch_size = ", num_bags));
    for (int64_t i = 0; i < num_bags; ++i) {
      if (batch.lengths[i] < 0)
        throw InvalidArgument(message(owner, ": length ", batch.lengths[i], " at position ", i,
                                      " (", bag_name(feature_names, batch.batch_size, i),
                                      ") is negative"));
      bounds[i + 1] = bounds[i] + batch.lengths[i];
    }
  }
  if (bounds.back() > num_values)
    throw OutOfRange(message(owner, ": the bags cover ", bounds.back(), " values but only ",
                             num_values, " were given"));
  if (bounds.back() < num_values)
    throw InvalidArgument(message(owner, ": the bags cover ", bounds.back(), " values but ",
                                  num_values, " were given"));
  return bounds;
}

}  // namespace rowshard
