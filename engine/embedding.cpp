#include "rowshard/engine/embedding.h"

#include <numeric>

#include "engine/backend.h"
#include "engine/bag_layout.h"

namespace rowshard {

Embedding::Embedding(EmbeddingOptions options) : Table("Embedding", std::move(options)) {}

Embedding::Embedding(EmbeddingOptions options, RowStorage weights, bool freeze)
    : Table("Embedding", std::move(options), std::move(weights), freeze) {}

Embedding Embedding::from_pretrained(RowStorage weights, EmbeddingOptions options, bool freeze) {
  return Embedding(std::move(options), std::move(weights), freeze);
}

Lookup Embedding::forward(const IndexInput& input) {
  check_length(owner(), "indices", input.indices.size(), element_count(input.shape));
  prepare_rows(input.indices);

  Lookup lookup;
  lookup.output.shape = input.shape;
  lookup.output.shape.push_back(embedding_dim());
  lookup.output.values.resize(input.indices.size() * embedding_dim());
  backend().gather_rows(weights(), input.indices, lookup.output.values);

  // For the backward, every index is a bag of its own, summed.
  SavedLookup& saved = lookup.saved;
  saved.indices.assign(input.indices.begin(), input.indices.end());
  saved.bounds.resize(saved.indices.size() + 1);
  std::iota(saved.bounds.begin(), saved.bounds.end(), int64_t{0});
  saved.mode = PoolingMode::sum;
  return lookup;
}

Tensor embedding(const IndexInput& input, RowStorage weights, EmbeddingOptions options) {
  return Embedding::from_pretrained(std::move(weights), std::move(options)).forward(input).output;
}

}  // namespace rowshard
