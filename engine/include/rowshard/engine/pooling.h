// The vocabulary shared by the pooled-lookup kernels (engine/reference,
// engine/cpu) and the tables that call them.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace rowshard {

enum class PoolingMode { sum, mean, max };

std::string_view pooling_mode_name(PoolingMode mode);
// Parses "sum" / "mean" / "max"; nullopt for anything else.
std::optional<PoolingMode> parse_pooling_mode(std::string_view name);

// No padding row: no index equals it, as every valid index is >= 0.
inline constexpr int64_t kNoPadding = -1;

// One batch of bags over one table, already validated: every index is in
// [0, rows), bounds are non-decreasing within the indices, and
// per_sample_weights is empty or as long as indices.
//
// Bag b is the entries p in [bounds[b], bounds[b + 1]) whose index is not
// padding_idx; padding entries are skipped by the forward (and by mean's
// count) and get no gradient.
struct PooledBatch {
  std::span<const int64_t> indices;
  std::span<const int64_t> bounds;  // num_bags + 1 entries
  std::span<const float> per_sample_weights;
  PoolingMode mode = PoolingMode::mean;
  int64_t padding_idx = kNoPadding;

  int64_t num_bags() const { return static_cast<int64_t>(bounds.size()) - 1; }
};

// The factor by which entry p of a bag with `entries` non-padding entries
// scales the bag's upstream gradient on its way to row indices[p], whose
// row occurs `frequency` times in the batch (1 without scale_grad_by_freq):
//
//   float( 1.0 / frequency [/ entries, mean] [* per_sample_weights[p]] )
//
// computed in double and rounded once, as PyTorch does, which then
// accumulates it with a fused multiply-add.
inline float occurrence_scale(const PooledBatch& batch, int64_t p, int64_t entries,
                              int64_t frequency) {
  double scale = 1.0 / static_cast<double>(frequency);
  if (batch.mode == PoolingMode::mean) scale /= static_cast<double>(entries);
  if (!batch.per_sample_weights.empty()) scale *= batch.per_sample_weights[p];
  return static_cast<float>(scale);
}

// What a lookup keeps for its backward, as autograd keeps saved tensors:
// owned copies, so the caller's input arrays may go away after forward.
// Embedding (one row per index, nothing pooled) is saved as sum-pooled bags
// of one entry each.
struct SavedLookup {
  std::vector<int64_t> indices;
  std::vector<int64_t> bounds;
  std::vector<float> per_sample_weights;
  // Max mode: [num_bags, dim], the position whose row won each column, or
  // -1 for an empty bag.
  std::vector<int64_t> max_positions;
  PoolingMode mode = PoolingMode::sum;

  PooledBatch batch(int64_t padding_idx) const {
    return {indices, bounds, per_sample_weights, mode, padding_idx};
  }
};

}  // namespace rowshard
