// A sharded job whose last rank feeds an id past its table: every rank must
// stop with that rank's message and a non-zero exit, within seconds, instead
// of the other ranks waiting in a collective forever.
#include <cstdio>

#include "rowshard/engine/error.h"
#include "rowshard/sharding/sharded_collection.h"

int main() {
  using namespace rowshard;
  auto comm = world_communicator();
  try {
    CollectionTableConfig table;
    table.table.name = "items";
    table.table.num_embeddings = 100;
    table.table.embedding_dim = 8;
    table.table.mode = PoolingMode::sum;
    ShardedEmbeddingBagCollection collection(*comm, {table}, {TableSharding{}},
                                             {{"clicked", "items", false}});
    const bool bad = comm->rank() == comm->size() - 1;
    const std::vector<int64_t> ids = {3, bad ? 100 : 7, 9};
    const std::vector<int64_t> lengths = {2, 1};
    const std::vector<std::string> keys = {"clicked"};
    for (int step = 0; step < 3; ++step) {
      const CollectionLookup lookup = collection.forward({keys, 2, ids, lengths, {}, std::nullopt});
      collection.step(lookup, std::vector<float>(lookup.output.values.size(), 1.0f));
    }
    return 0;
  } catch (const Error& error) {
    if (comm->rank() == 0) std::fprintf(stderr, "rowshard: %s\n", error.what());
    return 1;
  }
}
