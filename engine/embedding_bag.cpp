#include "rowshard/engine/embedding_bag.h"

#include "engine/backend.h"
#include "engine/bag_layout.h"
#include "rowshard/engine/error.h"

namespace rowshard {

EmbeddingBag::EmbeddingBag(EmbeddingBagOptions options)
    : Table("EmbeddingBag", options),
      mode_(options.mode),
      include_last_offset_(options.include_last_offset) {
  validate_mode();
}

EmbeddingBag::EmbeddingBag(EmbeddingBagOptions options, RowStorage weights, bool freeze)
    : Table("EmbeddingBag", options, std::move(weights), freeze),
      mode_(options.mode),
      include_last_offset_(options.include_last_offset) {
  validate_mode();
}

EmbeddingBag EmbeddingBag::from_pretrained(RowStorage weights, EmbeddingBagOptions options,
                                           bool freeze) {
  return EmbeddingBag(std::move(options), std::move(weights), freeze);
}

void EmbeddingBag::validate_mode() const {
  if (mode_ == PoolingMode::max && options().scale_grad_by_freq)
    throw InvalidArgument(message(owner(), ": max mode does not support scale_grad_by_freq"));
}

Lookup EmbeddingBag::forward(const BagInput& input) {
  std::vector<int64_t> bounds = bag_bounds(owner(), input, include_last_offset_);
  if (input.per_sample_weights && mode_ != PoolingMode::sum)
    throw InvalidArgument(message(owner(),
                                  ": per_sample_weights is only supported in sum mode, not ",
                                  pooling_mode_name(mode_)));
  prepare_rows(input.indices);

  Lookup lookup;
  SavedLookup& saved = lookup.saved;
  saved.indices.assign(input.indices.begin(), input.indices.end());
  saved.bounds = std::move(bounds);
  if (input.per_sample_weights)
    saved.per_sample_weights.assign(input.per_sample_weights->begin(),
                                    input.per_sample_weights->end());
  saved.mode = mode_;

  const int64_t num_bags = static_cast<int64_t>(saved.bounds.size()) - 1;
  lookup.output.shape = {num_bags, embedding_dim()};
  lookup.output.values.resize(num_bags * embedding_dim());
  if (mode_ == PoolingMode::max) saved.max_positions.resize(num_bags * embedding_dim());
  const PoolingTask task{
      &weights(), saved.batch(padding_idx().value_or(kNoPadding)), lookup.output.values.data(),
      saved.max_positions.empty() ? nullptr : saved.max_positions.data(), embedding_dim()};
  backend().pooled_forward_checked_ids({&task, 1});
  return lookup;
}

}  // namespace rowshard
