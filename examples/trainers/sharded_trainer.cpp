// The same trainer with its tables split row-wise over the ranks of an MPI
// job: only the collection's construction differs from the single-process
// one. Each rank trains on its own examples.
//
//   mpirun -np 2 ./sharded_trainer CHECKPOINT_ROOT
#include <cstdio>
#include <filesystem>

#include "toy_model.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: sharded_trainer CHECKPOINT_ROOT\n");
    return 2;
  }
  rowshard::keep_freed_memory_for_reuse();
  const auto comm = rowshard::world_communicator();  // MPI, or alone
  const std::vector<rowshard::TableSharding> row_wise(2);
  rowshard::ShardedEmbeddingBagCollection model(*comm, toy::tables(), row_wise, toy::features());
  const bool learned = toy::train(model, 300, /*seed=*/100 + comm->rank());
  if (comm->rank() == 0) std::filesystem::create_directories(argv[1]);
  comm->barrier();
  const std::filesystem::path saved = rowshard::checkpoint::save(
      model, {.root = argv[1], .step = 300, .keep_last = 1, .config = "sharded"});
  if (comm->rank() == 0) std::printf("checkpoint: %s\n", saved.c_str());
  toy::print_probe(model);
  return learned ? 0 : 1;
}
