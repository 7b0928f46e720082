// checkpoint_reshard_job save DIR | verify DIR
//
// save: trains a sharded collection (every sharding kind, three optimizers,
//   f32 and f16) for a few steps, saves it to DIR, restores the checkpoint
//   into a fresh collection at the same rank count and checks every shard
//   is bit-identical to what was saved.
// verify: restores DIR, saved at any rank count, into the same collection
//   at this rank count, and checks each rank's shards bit for bit against
//   the whole tables restored into a single-process collection.
// Exits 0 when everything matches; run under mpirun.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>

#include "rowshard/engine/embedding_bag_collection.h"
#include "rowshard/io/checkpoint/restore.h"
#include "rowshard/io/checkpoint/save.h"
#include "rowshard/io/pretrained.h"
#include "rowshard/sharding/sharded_collection.h"

namespace {

using namespace rowshard;

std::vector<CollectionTableConfig> tables(uint64_t seed) {
  const struct {
    const char* name;
    int64_t rows, dim;
    OptimizerKind optimizer;
    DType dtype;
  } specs[] = {{"contiguous", 101, 6, OptimizerKind::rowwise_adagrad, DType::f32},
               {"cyclic", 37, 4, OptimizerKind::adagrad, DType::f32},
               {"columns", 29, 7, OptimizerKind::rowwise_adagrad, DType::f16},
               {"whole", 13, 5, OptimizerKind::sgd, DType::f32},
               {"replicated", 9, 4, OptimizerKind::adagrad, DType::f32}};
  std::vector<CollectionTableConfig> out;
  for (const auto& spec : specs) {
    CollectionTableConfig config;
    config.table.name = spec.name;
    config.table.num_embeddings = spec.rows;
    config.table.embedding_dim = spec.dim;
    config.table.mode = PoolingMode::sum;
    config.table.dtype = spec.dtype;
    config.table.seed = seed++;
    config.optimizer.kind = spec.optimizer;
    config.optimizer.lr = 0.2f;
    out.push_back(config);
  }
  return out;
}

const std::vector<TableSharding> kSharding = {
    {ShardingKind::row_wise, RowPlacement::contiguous, -1},
    {ShardingKind::row_wise, RowPlacement::cyclic, -1},
    {ShardingKind::column_wise, RowPlacement::contiguous, -1},
    {ShardingKind::table_wise, RowPlacement::contiguous, -1},
    {ShardingKind::data_parallel, RowPlacement::contiguous, -1}};

std::vector<FeatureConfig> features() {
  std::vector<FeatureConfig> out;
  for (const auto& table : tables(0)) out.push_back({table.table.name, table.table.name, false});
  return out;
}

bool same_bytes(const void* a, const void* b, std::size_t bytes) {
  return bytes == 0 || std::memcmp(a, b, bytes) == 0;
}

// Compares rank's shard of table t with the same rows and columns of
// `whole` (weights and optimizer state).
bool shard_matches(const ShardedEmbeddingBagCollection& sharded, const RowOptimizer& shard_state,
                   int64_t t, int rank, const EmbeddingBag& whole,
                   const RowOptimizer& whole_state) {
  const ShardLayout& layout = sharded.layout(t);
  const EmbeddingBag& shard = sharded.local_table(t);
  const std::size_t element = dtype_size(shard.weights().dtype());
  const int64_t width = shard.embedding_dim(), column = layout.first_column(rank);
  const bool per_row = shard_state.state_shape().size() == 1;
  for (int64_t local = 0; local < shard.num_embeddings(); ++local) {
    const int64_t row = layout.global_row(rank, local);
    if (!same_bytes(shard.weights().bytes() + local * width * element,
                    whole.weights().bytes() + (row * layout.dim() + column) * element,
                    width * element))
      return false;
    if (shard_state.state().empty()) continue;
    const float* mine = &shard_state.state()[per_row ? local : local * width];
    const float* theirs = &whole_state.state()[per_row ? row : row * layout.dim() + column];
    if (!same_bytes(mine, theirs, (per_row ? 1 : width) * sizeof(float))) return false;
  }
  return true;
}

int save_and_check(Communicator& comm, const std::string& directory) {
  ShardedEmbeddingBagCollection trained(comm, tables(1), kSharding, features());
  std::mt19937_64 rng(11);
  const int64_t global_batch = 24;
  const int64_t first = global_batch * comm.rank() / comm.size();
  const int64_t end = global_batch * (comm.rank() + 1) / comm.size();
  std::vector<std::string> keys;
  for (const FeatureConfig& feature : features()) keys.push_back(feature.name);
  for (int step = 0; step < 3; ++step) {
    std::vector<int64_t> values, lengths;
    for (const auto& table : tables(0))
      for (int64_t b = 0; b < global_batch; ++b) {
        const int64_t length = static_cast<int64_t>(rng() % 3);
        const bool mine = b >= first && b < end;
        if (mine) lengths.push_back(length);
        for (int64_t i = 0; i < length; ++i) {
          const int64_t id = static_cast<int64_t>(rng() % table.table.num_embeddings);
          if (mine) values.push_back(id);
        }
      }
    const CollectionLookup lookup =
        trained.forward({keys, end - first, values, lengths, {}, std::nullopt});
    trained.step(lookup, std::vector<float>(lookup.output.values.size(), 0.25f));
  }
  checkpoint::save(trained, {directory, 3, 0, "reshard test"});

  ShardedEmbeddingBagCollection restored(comm, tables(50), kSharding, features());
  checkpoint::restore(restored, directory + "/ckpt-000003");
  bool ok = true;
  for (int64_t t = 0; t < trained.num_tables(); ++t) {
    const EmbeddingBag& a = trained.local_table(t);
    const EmbeddingBag& b = restored.local_table(t);
    const auto sa = trained.local_optimizer(t).state(), sb = restored.local_optimizer(t).state();
    if (!same_bytes(a.weights().bytes(), b.weights().bytes(), a.weights().size_bytes()) ||
        sa.size() != sb.size() || !same_bytes(sa.data(), sb.data(), sa.size_bytes())) {
      std::fprintf(stderr, "rank %d: table %s differs after save and restore\n", comm.rank(),
                   a.name().c_str());
      ok = false;
    }
  }
  return ok ? 0 : 1;
}

int verify(Communicator& comm, const std::string& directory) {
  const std::string checkpoint = directory + "/ckpt-000003";
  ShardedEmbeddingBagCollection sharded(comm, tables(70), kSharding, features());
  checkpoint::restore(sharded, checkpoint);
  EmbeddingBagCollection whole(tables(90), features());
  checkpoint::restore(whole, checkpoint);
  bool ok = true;
  for (int64_t t = 0; t < sharded.num_tables(); ++t) {
    if (!shard_matches(sharded, sharded.local_optimizer(t), t, comm.rank(), whole.local_table(t),
                       whole.local_optimizer(t))) {
      std::fprintf(stderr, "rank %d of %d: table %s differs from the checkpoint\n", comm.rank(),
                   comm.size(), whole.local_table(t).name().c_str());
      ok = false;
    }
  }
  // A checkpoint saved by one rank holds each table in one file: as
  // pretrained vectors, every rank maps it and reads just its own rows.
  const checkpoint::Manifest manifest = checkpoint::read_manifest(checkpoint);
  if (manifest.world_size == 1) {
    ShardedEmbeddingBagCollection pretrained(comm, tables(110), kSharding, features());
    for (int64_t t = 0; t < pretrained.num_tables(); ++t) {
      const auto& files = manifest.tables[t].files;
      const auto weight = std::find_if(files.begin(), files.end(),
                                       [](const auto& f) { return f.kind == "weight"; });
      const std::string file = checkpoint + "/" + weight->path;
      load_pretrained(pretrained, t, {file, {}, true});
      const EmbeddingBag& a = pretrained.local_table(t);
      const EmbeddingBag& b = sharded.local_table(t);
      if (!same_bytes(a.weights().bytes(), b.weights().bytes(), a.weights().size_bytes())) {
        std::fprintf(stderr, "rank %d: table %s loaded from_pretrained differs\n", comm.rank(),
                     a.name().c_str());
        ok = false;
      }
    }
  }
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: checkpoint_reshard_job save|verify DIR\n");
    return 2;
  }
  auto comm = world_communicator();
  try {
    const std::string mode = argv[1];
    return mode == "save" ? save_and_check(*comm, argv[2]) : verify(*comm, argv[2]);
  } catch (const Error& error) {
    std::fprintf(stderr, "rank %d: %s\n", comm->rank(), error.what());
    return 1;
  }
}
