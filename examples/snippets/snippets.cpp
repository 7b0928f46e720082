// The public headers' code examples, each inside a function whose
// parameters are the names the example takes as given. Between a
// "snippet FILE" line and "end snippet", the text is the example in FILE
// with its comment markers removed (tests/snippets_test.py checks it), so
// clang-format leaves it alone.
#include <rowshard/rowshard.h>

#include <span>
#include <string>
#include <string_view>
#include <vector>

// The installed header and the package's CMake version agree.
static_assert(std::string_view(ROWSHARD_VERSION_STRING) == PACKAGE_VERSION);

namespace rowshard {

void embedding_bag_example(std::span<const int64_t> ids, int64_t n,
                           std::span<const int64_t> offsets, std::span<const float> grad_output) {
  // clang-format off
  // snippet rowshard/engine/embedding_bag.h
  EmbeddingBagOptions options;  // TableOptions' fields, then the bag's own
  options.name = "user_id";
  options.num_embeddings = 1000;
  options.embedding_dim = 64;
  options.mode = PoolingMode::sum;
  EmbeddingBag bag(options);
  Lookup lookup = bag.forward({.indices = ids, .shape = {n}, .offsets = offsets});
  // lookup.output is [bags, 64]; then, with the upstream gradient:
  RowWiseAdagrad adagrad(1000, 64, {.lr = 0.05f});
  bag.step(lookup, grad_output, adagrad);
  // end snippet
  // clang-format on
}

void collection_example(const EmbeddingBagOptions& items_options,
                        const EmbeddingBagOptions& users_options, std::span<const int64_t> ids,
                        std::span<const int64_t> lengths, std::span<const float> grad_output) {
  // clang-format off
  // snippet rowshard/engine/embedding_bag_collection.h
  EmbeddingBagCollection collection(
      {{.table = items_options, .optimizer = {.lr = 0.05f}},
       {.table = users_options}},
      {{.name = "clicked_items", .table = "items"},
       {.name = "viewed_items", .table = "items"},    // shares "items"
       {.name = "user", .table = "users"}});
  const std::vector<std::string> keys = {"clicked_items", "viewed_items", "user"};
  const KeyedJaggedBatch batch{
      .keys = keys, .batch_size = 32, .values = ids, .lengths = lengths};
  CollectionLookup lookup = collection.forward(batch);  // [B, sum of dims]
  collection.step(lookup, grad_output);                 // fused, all tables
  Tensor scores = collection.forward_no_grad(batch);    // evaluation
  // end snippet
  // clang-format on
}

void collective_phase_example(Communicator& comm) {
  // clang-format off
  // snippet rowshard/sharding/communicator.h
  CollectivePhase phase(comm, Phase::output_exchange);
  // end snippet
  // clang-format on
}

void checkpoint_examples(EmbeddingBagCollection& collection) {
  // clang-format off
  // snippet rowshard/io/checkpoint/save.h
  checkpoint::save(collection, {.root = "ckpt", .step = 500});
  // end snippet
  // clang-format on
  // clang-format off
  // snippet rowshard/io/checkpoint/restore.h
  checkpoint::restore(collection, "ckpt/ckpt-000500");
  // end snippet
  // clang-format on
}

}  // namespace rowshard
