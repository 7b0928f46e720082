// checkpoint_crash_child ROOT: saves checkpoints of one table forever, each
// step's table marked with its step (row 0, column 0 = step), until killed.
// tests/io/crash_test.cpp kills it with SIGKILL at random moments.
#include <cstdio>

#include "engine/collection_loader.h"
#include "rowshard/engine/embedding_bag_collection.h"
#include "rowshard/io/checkpoint/save.h"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  using namespace rowshard;
  CollectionTableConfig config;
  config.table.name = "marked";
  config.table.num_embeddings = 200'000;
  config.table.embedding_dim = 16;
  EmbeddingBagCollection collection({config}, {{"f", "marked", false}});
  EmbeddingBag& table = detail::CollectionLoader::local_table(collection, 0);
  for (int64_t step = 1;; ++step) {
    table.mutable_weights().mutable_row<float>(0)[0] = static_cast<float>(step);
    checkpoint::save(collection, {argv[1], step, 2, ""});
  }
}
