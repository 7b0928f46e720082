// The model the example trainers share: users and items, each one
// embedding, scored by their dot product and trained with a log loss. The
// loop is written once against EmbeddingCollection, so it runs the same on a
// single-process collection and on a sharded one.
#pragma once

#include <rowshard/rowshard.h>

#include <cmath>
#include <cstdio>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace toy {

using namespace rowshard;

constexpr int64_t kUsers = 200, kItems = 500, kDim = 8;
constexpr int64_t kBatch = 256;  // examples per process and step

// Hidden preference: users like items of their own parity class.
inline float liked(int64_t user, int64_t item) {
  return (user % 7) % 2 == (item % 5) % 2 ? 1.0f : 0.0f;
}

inline std::vector<CollectionTableConfig> tables() {
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

inline std::vector<FeatureConfig> features() {
  return {{.name = "user", .table = "users"}, {.name = "item", .table = "items"}};
}

// Every batch names its features, so a batch built in another order is refused.
inline const std::vector<std::string> kKeys = {"user", "item"};

// Pairs of one user and one item: the ids are the users, then the items.
struct Pairs {
  std::vector<int64_t> ids;
  std::vector<int64_t> lengths;  // one id per pair and feature
  std::vector<float> labels;

  KeyedJaggedBatch batch() const {
    return {.keys = kKeys,
            .batch_size = static_cast<int64_t>(labels.size()),
            .values = ids,
            .lengths = lengths};
  }
};

inline Pairs pairs(std::span<const int64_t> users, std::span<const int64_t> items) {
  Pairs out;
  out.ids.assign(users.begin(), users.end());
  out.ids.insert(out.ids.end(), items.begin(), items.end());
  out.lengths.assign(2 * users.size(), 1);
  for (std::size_t b = 0; b < users.size(); ++b) out.labels.push_back(liked(users[b], items[b]));
  return out;
}

inline Pairs random_pairs(std::mt19937_64& rng) {
  std::vector<int64_t> users(kBatch), items(kBatch);
  for (int64_t b = 0; b < kBatch; ++b) {
    users[b] = static_cast<int64_t>(rng() % kUsers);
    items[b] = static_cast<int64_t>(rng() % kItems);
  }
  return pairs(users, items);
}

// Pair b's score: the dot product of its user's and its item's vectors.
inline float score(const EmbeddingCollection& model, const Tensor& output, int64_t b) {
  const std::span<const float> user = model.feature_view(output, "user").row(b);
  const std::span<const float> item = model.feature_view(output, "item").row(b);
  float logit = 0;
  for (int64_t d = 0; d < kDim; ++d) logit += user[d] * item[d];
  return logit;
}

// The mean log loss of a lookup, and its gradient with respect to the output.
inline double loss_and_gradient(const EmbeddingCollection& model, const Tensor& output,
                                const Pairs& pairs, std::vector<float>& grad) {
  grad.assign(output.values.size(), 0.0f);
  const auto batch = static_cast<int64_t>(pairs.labels.size());
  double loss = 0;
  for (int64_t b = 0; b < batch; ++b) {
    const float p = 1.0f / (1.0f + std::exp(-score(model, output, b)));
    const float y = pairs.labels[b];
    loss -= y * std::log(p + 1e-7f) + (1 - y) * std::log(1 - p + 1e-7f);
    const float scale = (p - y) / static_cast<float>(batch);
    const std::span<const float> user = model.feature_view(output, "user").row(b);
    const std::span<const float> item = model.feature_view(output, "item").row(b);
    float* row = &grad[b * model.total_dim()];
    for (int64_t d = 0; d < kDim; ++d) {
      row[model.column_offset(0) + d] = scale * item[d];
      row[model.column_offset(1) + d] = scale * user[d];
    }
  }
  return loss / static_cast<double>(batch);
}

// Trains `model` for `steps` steps on batches drawn from `seed`; returns
// whether the loss of the last 20 steps fell below 80% of the first 20's.
inline bool train(EmbeddingCollection& model, int steps, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<float> grad;
  double first_loss = 0, last_loss = 0;
  for (int step = 0; step < steps; ++step) {
    const Pairs batch = random_pairs(rng);
    const CollectionLookup lookup = model.forward(batch.batch());
    const double loss = loss_and_gradient(model, lookup.output, batch, grad);
    model.step(lookup, grad);
    if (step < 20) first_loss += loss / 20;
    if (step >= steps - 20) last_loss += loss / 20;
  }
  if (model.rank() == 0)
    std::printf("loss: first 20 steps %.4f, last 20 steps %.4f\n", first_loss, last_loss);
  return last_loss < 0.8 * first_loss;
}

// The pairs every program scores the same way, to compare their bits.
inline Pairs probe() {
  const std::vector<int64_t> users = {0, 1, 2, 3, 42, 199}, items = {0, 7, 99, 250, 3, 499};
  return pairs(users, items);
}

// Prints the probe's scores, one line per pair, exactly (hex floats).
inline void print_probe(EmbeddingCollection& model) {
  const Pairs pairs = probe();
  const Tensor output = model.forward_no_grad(pairs.batch());
  if (model.rank() != 0) return;
  for (std::size_t b = 0; b < pairs.labels.size(); ++b)
    std::printf("probe user %lld item %lld score %a\n", static_cast<long long>(pairs.ids[b]),
                static_cast<long long>(pairs.ids[pairs.labels.size() + b]),
                score(model, output, static_cast<int64_t>(b)));
}

}  // namespace toy
