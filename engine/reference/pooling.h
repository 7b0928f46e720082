// Reference implementations: the semantics of every kernel, as the plainest
// loops that compute it. engine/cpu is tested against these; they are not
// meant to be fast.
#pragma once

#include <cstdint>
#include <span>

#include "rowshard/engine/pooling.h"
#include "rowshard/engine/row_storage.h"

namespace rowshard::reference {

// EmbeddingBag forward.
//
//   for each bag b:
//     E = [p in bounds[b] .. bounds[b+1]) if indices[p] != padding_idx]
//     sum:  out[b] = sum over p in E of  w_p * W[indices[p]]
//           (w_p = per_sample_weights[p], or 1 without them)
//     mean: out[b] = (sum over p in E of W[indices[p]]) * (1 / |E|)
//     max:  out[b][d] = max over p in E of W[indices[p]][d]
//           max_positions[b][d] = the first p reaching that maximum
//     E empty: out[b] = 0 (and max_positions[b] = -1)
//
// `output` is [num_bags, dim]; `max_positions` is [num_bags, dim] in max
// mode and ignored otherwise.
void pooled_forward(const RowStorage& weights, const PooledBatch& batch, std::span<float> output,
                    std::span<int64_t> max_positions);

// Embedding forward: out[p] = W[indices[p]] for every p, padding included
// (the padding row is returned as stored). `output` is [indices, dim].
void gather_rows(const RowStorage& weights, std::span<const int64_t> indices,
                 std::span<float> output);

// The dense [rows, dim] gradient of the table for the upstream gradient
// `grad_output` ([num_bags, dim]) of pooled_forward:
//
//   for each bag b, each p in E(b), with r = indices[p]:
//     sum, mean: G[r]    = fma(scale_p, grad_output[b],    G[r])
//     max:       G[r][d] = fma(scale_p, grad_output[b][d], G[r][d])
//                          only where max_positions[b][d] == p
//   with scale_p = occurrence_scale(...) (see engine/pooling.h).
void dense_gradient(const PooledBatch& batch, std::span<const int64_t> max_positions,
                    std::span<const float> grad_output, int64_t num_rows, int64_t dim,
                    bool scale_grad_by_freq, std::span<float> gradient);

}  // namespace rowshard::reference
