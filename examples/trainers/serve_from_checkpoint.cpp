// Serving from a checkpoint: restores the tables (saved by either trainer,
// on any number of ranks) into one process and answers lookups, here the
// trainers' probe and the best items for a user. Needs no MPI.
//
//   ./serve_from_checkpoint CHECKPOINT_DIR [USER]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <numeric>

#include "toy_model.h"

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: serve_from_checkpoint CHECKPOINT_DIR [USER]\n");
    return 2;
  }
  rowshard::EmbeddingBagCollection model(toy::tables(), toy::features());
  const rowshard::checkpoint::Restored restored = rowshard::checkpoint::restore(model, argv[1]);
  std::printf("restored step %lld\n", static_cast<long long>(restored.step));
  toy::print_probe(model);

  // Every item for one user, in one lookup: the three best.
  const int64_t user = argc == 3 ? std::atoll(argv[2]) : 3;
  std::vector<int64_t> users(toy::kItems, user), items(toy::kItems);
  std::iota(items.begin(), items.end(), 0);
  const toy::Pairs candidates = toy::pairs(users, items);
  const rowshard::Tensor output = model.forward_no_grad(candidates.batch());
  std::vector<int64_t> ranked = items;
  std::partial_sort(ranked.begin(), ranked.begin() + 3, ranked.end(), [&](int64_t a, int64_t b) {
    return toy::score(model, output, a) > toy::score(model, output, b);
  });
  for (int i = 0; i < 3; ++i)
    std::printf("user %lld: item %lld (liked: %s)\n", static_cast<long long>(user),
                static_cast<long long>(ranked[i]), toy::liked(user, ranked[i]) ? "yes" : "no");
  return 0;
}
