// Random tables and bag batches for tests that compare two computations of
// the same thing (a kernel and its reference, one thread and two).
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "rowshard/engine/row_storage.h"

namespace rowshard::testing {

struct RandomBags {
  std::vector<int64_t> indices;
  std::vector<int64_t> offsets;  // one per bag, offsets[0] == 0
  std::vector<float> per_sample_weights;
};

// Bags of 0..max_bag_size ids drawn from [0, num_rows), about one in eight
// empty, with per-sample weights in [-1, 1).
inline RandomBags random_bags(std::mt19937_64& rng, int64_t num_bags, int64_t max_bag_size,
                              int64_t num_rows) {
  RandomBags bags;
  std::uniform_int_distribution<int64_t> size(0, max_bag_size);
  std::uniform_int_distribution<int64_t> row(0, num_rows - 1);
  std::uniform_real_distribution<float> weight(-1.0f, 1.0f);
  for (int64_t b = 0; b < num_bags; ++b) {
    bags.offsets.push_back(static_cast<int64_t>(bags.indices.size()));
    const int64_t entries = rng() % 8 == 0 ? 0 : size(rng);
    for (int64_t e = 0; e < entries; ++e) {
      bags.indices.push_back(row(rng));
      bags.per_sample_weights.push_back(weight(rng));
    }
  }
  return bags;
}

// fp32 weights, uniform in [-1, 1), so max-mode ties are practically absent.
inline RowStorage random_weights(std::mt19937_64& rng, int64_t num_rows, int64_t dim) {
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  std::vector<float> values(num_rows * dim);
  for (float& v : values) v = value(rng);
  return RowStorage::copy_of(values, num_rows, dim);
}

inline std::vector<float> random_values(std::mt19937_64& rng, std::size_t count) {
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  std::vector<float> values(count);
  for (float& v : values) v = value(rng);
  return values;
}

}  // namespace rowshard::testing
