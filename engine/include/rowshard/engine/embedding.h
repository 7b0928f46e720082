// Embedding: PyTorch's nn.Embedding and F.embedding. Looks up one row per
// index; indices of any shape give an output of that shape + [dim].
//
// Unlike EmbeddingBag, the padding row is returned as stored (zeros unless
// loaded from_pretrained with other values); it still gets no gradient.
#pragma once

#include "rowshard/engine/lookup_input.h"
#include "rowshard/engine/table.h"

namespace rowshard {

struct EmbeddingOptions : TableOptions {};

class Embedding : public Table {
 public:
  // A new table, initialised N(0, 1) from options.seed, padding row zeroed.
  explicit Embedding(EmbeddingOptions options);

  // A table over `weights`, kept exactly as given; see
  // EmbeddingBag::from_pretrained.
  static Embedding from_pretrained(RowStorage weights, EmbeddingOptions options,
                                   bool freeze = true);

  // Output: input.shape + [dim]. Validates the indices first; on error
  // throws and nothing (max_norm included) has been written.
  Lookup forward(const IndexInput& input);

 private:
  Embedding(EmbeddingOptions options, RowStorage weights, bool freeze);
};

// F.embedding: the lookup without a module. `weights` shares its memory
// with the caller's RowStorage, so with max_norm the looked-up rows are
// renormalised in the caller's table, as PyTorch does.
Tensor embedding(const IndexInput& input, RowStorage weights, EmbeddingOptions options = {});

}  // namespace rowshard
