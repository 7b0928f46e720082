// EmbeddingBag: PyTorch's nn.EmbeddingBag. Looks up bags of rows and pools
// each bag to one vector by sum, mean (the default) or max, without
// materialising the looked-up rows.
//
//   EmbeddingBagOptions options;  // TableOptions' fields, then the bag's own
//   options.name = "user_id";
//   options.num_embeddings = 1000;
//   options.embedding_dim = 64;
//   options.mode = PoolingMode::sum;
//   EmbeddingBag bag(options);
//   Lookup lookup = bag.forward({.indices = ids, .shape = {n}, .offsets = offsets});
//   // lookup.output is [bags, 64]; then, with the upstream gradient:
//   RowWiseAdagrad adagrad(1000, 64, {.lr = 0.05f});
//   bag.step(lookup, grad_output, adagrad);
//
// Semantics (exactly PyTorch's; the kernels' own spec is in
// engine/reference/pooling.h):
//  - padding_idx entries are left out of their bag and of mean's count;
//  - an empty bag (or one of padding only) pools to zeros in every mode;
//  - per_sample_weights only with sum;
//  - max mode sends each column's gradient to the row that won it, and
//    refuses scale_grad_by_freq.
#pragma once

#include "rowshard/engine/lookup_input.h"
#include "rowshard/engine/table.h"

namespace rowshard {

struct EmbeddingBagOptions : TableOptions {
  PoolingMode mode = PoolingMode::mean;
  // offsets has one more entry than there are bags: the end of the last.
  bool include_last_offset = false;
};

class EmbeddingBag : public Table {
 public:
  // A new table, initialised N(0, 1) from options.seed, padding row zeroed.
  // Throws for negative sizes, padding_idx out of range, max mode with
  // scale_grad_by_freq, max_norm <= 0.
  explicit EmbeddingBag(EmbeddingBagOptions options);

  // A table over `weights`, kept exactly as given (the padding row is not
  // zeroed). num_embeddings and embedding_dim come from the weights (if the
  // options set them, they must agree). A frozen table refuses step().
  static EmbeddingBag from_pretrained(RowStorage weights, EmbeddingBagOptions options,
                                      bool freeze = true);

  // Pools each bag of `input` into one row of the output [bags, dim].
  // Validates the whole input first (see engine/bag_layout.h): on error it
  // throws and nothing, max_norm included, has been written.
  Lookup forward(const BagInput& input);

  PoolingMode mode() const { return mode_; }
  bool include_last_offset() const { return include_last_offset_; }

 private:
  EmbeddingBag(EmbeddingBagOptions options, RowStorage weights, bool freeze);
  void validate_mode() const;

  PoolingMode mode_;
  bool include_last_offset_;
};

}  // namespace rowshard
