// A trainer on one process: the toy model on an EmbeddingBagCollection,
// then a checkpoint. Needs only rowshard::engine and rowshard::io (no MPI).
//
//   ./single_process_trainer CHECKPOINT_ROOT
#include <cstdio>
#include <filesystem>

#include "toy_model.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: single_process_trainer CHECKPOINT_ROOT\n");
    return 2;
  }
  rowshard::keep_freed_memory_for_reuse();  // each step's buffers are reused, not remapped
  rowshard::EmbeddingBagCollection model(toy::tables(), toy::features());
  const bool learned = toy::train(model, 300, /*seed=*/100);
  const std::filesystem::path saved = rowshard::checkpoint::save(
      model, {.root = argv[1], .step = 300, .keep_last = 1, .config = "single process"});
  std::printf("checkpoint: %s\n", saved.c_str());
  toy::print_probe(model);
  return learned ? 0 : 1;
}
