// A small recommender trained with rowshard as a library: a dot-product
// model of user and item embeddings on a sharded collection, with its own
// loss and loop; it saves a checkpoint, restores it into a fresh collection
// and checks the restored model predicts the same bits.
//
//   ./custom_trainer [checkpoint_dir]       (alone, or under mpirun -np N)
#include <rowshard/rowshard.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>

namespace {

using namespace rowshard;

constexpr int64_t kUsers = 200, kItems = 500, kDim = 8;
constexpr int64_t kBatch = 256;  // examples per rank and step

// Hidden preference: users like items of their own parity class.
float liked(int64_t user, int64_t item) { return (user % 7) % 2 == (item % 5) % 2 ? 1.0f : 0.0f; }

std::vector<CollectionTableConfig> tables() {
  CollectionTableConfig users, items;
  users.table.name = "users";
  users.table.num_embeddings = kUsers;
  users.table.embedding_dim = kDim;
  users.table.mode = PoolingMode::sum;
  users.table.seed = 1;
  users.optimizer.lr = 0.2f;
  items = users;
  items.table.name = "items";
  items.table.num_embeddings = kItems;
  items.table.seed = 2;
  return {users, items};
}

struct Batch {
  std::vector<int64_t> ids;      // users, then items
  std::vector<int64_t> lengths;  // one id per example and feature
  std::vector<float> labels;
};

Batch make_batch(std::mt19937_64& rng) {
  Batch batch;
  std::vector<int64_t> users(kBatch), items(kBatch);
  for (int64_t b = 0; b < kBatch; ++b) {
    users[b] = static_cast<int64_t>(rng() % kUsers);
    items[b] = static_cast<int64_t>(rng() % kItems);
    batch.labels.push_back(liked(users[b], items[b]));
  }
  batch.ids = users;
  batch.ids.insert(batch.ids.end(), items.begin(), items.end());
  batch.lengths.assign(2 * kBatch, 1);
  return batch;
}

// logit = <user, item>; returns the mean log loss and writes d loss / d output.
double loss_and_gradient(const CollectionLookup& lookup, const Batch& batch,
                         std::vector<float>& grad) {
  grad.assign(lookup.output.values.size(), 0.0f);
  double loss = 0;
  for (int64_t b = 0; b < kBatch; ++b) {
    const float* user = &lookup.output.values[b * 2 * kDim];
    const float* item = user + kDim;
    float logit = 0;
    for (int64_t d = 0; d < kDim; ++d) logit += user[d] * item[d];
    const float p = 1.0f / (1.0f + std::exp(-logit));
    const float y = batch.labels[b];
    loss -= y * std::log(p + 1e-7f) + (1 - y) * std::log(1 - p + 1e-7f);
    const float scale = (p - y) / kBatch;
    for (int64_t d = 0; d < kDim; ++d) {
      grad[b * 2 * kDim + d] = scale * item[d];
      grad[b * 2 * kDim + kDim + d] = scale * user[d];
    }
  }
  return loss / kBatch;
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory_for_reuse();  // each step's buffers are reused, not remapped
  auto comm = world_communicator();
  const std::filesystem::path root =
      argc > 1 ? argv[1] : std::filesystem::temp_directory_path() / "custom_trainer_checkpoints";
  const std::vector<FeatureConfig> features = {{"user", "users", false}, {"item", "items", false}};
  // Every batch names its features, so a batch built in another order is refused.
  const std::vector<std::string> keys = {"user", "item"};
  const std::vector<TableSharding> sharding(2);  // row-wise, contiguous
  ShardedEmbeddingBagCollection model(*comm, tables(), sharding, features);

  std::mt19937_64 rng(100 + comm->rank());
  std::vector<float> grad;
  // Mean losses of the first and the last 20 steps.
  double first_loss = 0, last_loss = 0;
  for (int step = 0; step < 300; ++step) {
    const Batch batch = make_batch(rng);
    const CollectionLookup lookup = model.forward({keys, kBatch, batch.ids, batch.lengths, {}, std::nullopt});
    const double loss = loss_and_gradient(lookup, batch, grad);
    model.step(lookup, grad);
    if (step < 20) first_loss += loss / 20;
    if (step >= 280) last_loss += loss / 20;
  }
  if (comm->rank() == 0)
    std::printf("loss: first 20 steps %.4f, last 20 steps %.4f\n", first_loss, last_loss);

  // Save, restore into a fresh collection, and compare predictions.
  if (comm->rank() == 0) std::filesystem::create_directories(root);
  comm->barrier();
  const auto saved =
      checkpoint::save(model, {.root = root, .step = 300, .keep_last = 1, .config = "custom"});
  ShardedEmbeddingBagCollection restored(*comm, tables(), sharding, features);
  checkpoint::restore(restored, saved);
  const Batch probe = make_batch(rng);
  const KeyedJaggedBatch input{keys, kBatch, probe.ids, probe.lengths, {}, std::nullopt};
  const bool same = model.forward_no_grad(input).values == restored.forward_no_grad(input).values;
  if (comm->rank() == 0)
    std::printf("checkpoint %s restored: %s\n", saved.c_str(),
                same ? "predictions identical" : "PREDICTIONS DIFFER");
  const bool learned = last_loss < 0.8 * first_loss;
  if (!learned && comm->rank() == 0) std::printf("the loss did not fall\n");
  return same && learned ? 0 : 1;
}
