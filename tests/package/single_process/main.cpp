// Saves and restores a one-process collection's checkpoint: the engine and
// io libraries alone, with no MPI. Prints the checkpoint's directory.
#include <rowshard/engine/embedding_bag_collection.h>
#include <rowshard/io/checkpoint/restore.h>
#include <rowshard/io/checkpoint/save.h>

#include <cstdio>
#include <filesystem>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: single_process DIRECTORY\n");
    return 2;
  }
  rowshard::EmbeddingBagOptions items;
  items.name = "items";
  items.num_embeddings = 100;
  items.embedding_dim = 8;
  rowshard::EmbeddingBagCollection collection({{.table = items}},
                                              {{.name = "clicked", .table = "items"}});
  const std::filesystem::path saved =
      rowshard::checkpoint::save(collection, {.root = argv[1], .step = 1});
  rowshard::checkpoint::restore(collection, saved);
  std::printf("%s\n", saved.c_str());
  return 0;
}
