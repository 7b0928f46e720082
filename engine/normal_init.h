// Seeded N(0, 1) initialisation, as nn.Embedding does: fp32 Box-Muller, as
// PyTorch's CPU normal_ (its generator is PyTorch's, ours is counter-based,
// so the numbers differ but the distribution is the same; 24-bit uniforms
// put the largest magnitude at 5.8, as in PyTorch's fp32 draws).
#pragma once

#include <cstdint>
#include <span>

namespace rowshard {

// The sample of element `element` (row-major index into the whole table)
// for `seed`. It depends on nothing else, so a shard of a table, a column
// slice or a cyclic subset of rows gets exactly the values the whole table
// has there.
float standard_normal_at(uint64_t seed, uint64_t element);

// out[i] = standard_normal_at(seed, first_element + i), on the calling
// thread. Much faster than one call per element: elements are drawn 32 at a
// time, and a lone element costs its whole group.
void standard_normals(std::span<float> out, uint64_t seed, uint64_t first_element);

// standard_normals() on all OpenMP threads; the same values whatever the
// thread count.
void fill_standard_normal(std::span<float> out, uint64_t seed, int64_t first_element = 0);

}  // namespace rowshard
