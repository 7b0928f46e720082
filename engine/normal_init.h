// Seeded N(0, 1) initialisation, as nn.Embedding does (its generator is
// PyTorch's, ours is counter-based, so the numbers differ but the
// distribution is the same).
#pragma once

#include <cstdint>
#include <span>

namespace rowshard {

// Fills `out` with standard normal samples. Element i depends only on
// (seed, first_element + i), so the values are the same whatever the thread
// count, and a shard that starts at first_element gets exactly the values
// the whole table would have there.
void fill_standard_normal(std::span<float> out, uint64_t seed,
                          int64_t first_element = 0);

}  // namespace rowshard
