#include "training/data/tsv_held_out.h"

#include <numeric>

namespace rowshard {
namespace {

// Examples [begin, end) of `all`, in the same layout.
ExampleBatch examples_between(const ExampleBatch& all, int64_t begin, int64_t end) {
  ExampleBatch part;
  part.size = end - begin;
  if (part.size == 0) return part;
  const int64_t num_dense = static_cast<int64_t>(all.dense.size()) / all.size;
  const int64_t num_features = static_cast<int64_t>(all.sparse_lengths.size()) / all.size;
  part.labels.assign(all.labels.begin() + begin, all.labels.begin() + end);
  part.dense.assign(all.dense.begin() + begin * num_dense, all.dense.begin() + end * num_dense);
  auto feature_values = all.sparse_values.begin();
  for (int64_t f = 0; f < num_features; ++f) {
    const auto lengths = all.sparse_lengths.begin() + f * all.size;
    const auto values_begin =
        feature_values + std::accumulate(lengths, lengths + begin, int64_t{0});
    const auto values_end =
        values_begin + std::accumulate(lengths + begin, lengths + end, int64_t{0});
    part.sparse_values.insert(part.sparse_values.end(), values_begin, values_end);
    part.sparse_lengths.insert(part.sparse_lengths.end(), lengths + begin, lengths + end);
    feature_values += std::accumulate(lengths, lengths + all.size, int64_t{0});
  }
  return part;
}

}  // namespace

TsvHeldOut tsv_held_out(TsvReaderOptions options, int64_t examples) {
  const int rank = options.rank;
  const int world_size = options.world_size;
  options.rank = 0;
  options.world_size = 1;
  options.batch_size = examples;
  options.loop = false;
  options.print_warnings = rank == 0;
  TsvReader reader(options);
  const ExampleBatch all = reader.next().value_or(ExampleBatch{});
  TsvHeldOut held_out;
  held_out.examples = all.size;
  held_out.skipped_lines = reader.skipped_lines();
  held_out.batch =
      examples_between(all, all.size * rank / world_size, all.size * (rank + 1) / world_size);
  return held_out;
}

}  // namespace rowshard
