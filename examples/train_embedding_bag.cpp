// A small end-to-end use of the engine: an EmbeddingBag learns to reproduce
// the pooled vectors of a hidden "teacher" table, with the fused row-wise
// Adagrad step, and prints its loss as it falls.
//
//   train_embedding_bag [steps] [seed]
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "rowshard/engine/embedding_bag.h"
#include "rowshard/engine/optimizers/rowwise_adagrad.h"

namespace {

constexpr int64_t kRows = 20000;
constexpr int64_t kDim = 32;
constexpr int64_t kBatch = 512;
constexpr int64_t kMaxBagSize = 24;

struct Batch {
  std::vector<int64_t> indices;
  std::vector<int64_t> offsets;
};

Batch random_batch(std::mt19937_64& rng) {
  std::uniform_int_distribution<int64_t> bag_size(0, kMaxBagSize);
  // Ids skewed towards small values, as frequency-ordered ids are.
  std::geometric_distribution<int64_t> skewed_id(4.0 / kRows);
  Batch batch;
  for (int64_t b = 0; b < kBatch; ++b) {
    batch.offsets.push_back(static_cast<int64_t>(batch.indices.size()));
    for (int64_t n = bag_size(rng); n > 0; --n) batch.indices.push_back(skewed_id(rng) % kRows);
  }
  return batch;
}

}  // namespace

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::atoi(argv[1]) : 300;
  const uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 7;

  using namespace rowshard;
  EmbeddingBagOptions options;
  options.num_embeddings = kRows;
  options.embedding_dim = kDim;
  options.mode = PoolingMode::sum;
  options.name = "teacher";
  options.seed = seed + 1;
  EmbeddingBag teacher(options);
  options.name = "student";
  options.seed = seed;
  EmbeddingBag student(options);
  RowWiseAdagrad adagrad(kRows, kDim, {.lr = 0.5f});
  std::mt19937_64 rng(seed);

  std::printf(
      "training a %lld x %lld EmbeddingBag (sum) to match a teacher, "
      "row-wise Adagrad, batch %lld\n",
      static_cast<long long>(kRows), static_cast<long long>(kDim), static_cast<long long>(kBatch));
  for (int step = 1; step <= steps; ++step) {
    const Batch batch = random_batch(rng);
    const BagInput input{batch.indices,
                         {static_cast<int64_t>(batch.indices.size())},
                         batch.offsets,
                         std::nullopt,
                         {}};
    const Tensor target = teacher.forward(input).output;
    const Lookup lookup = student.forward(input);

    // Mean squared error over the batch and its gradient.
    std::vector<float> grad_output(target.values.size());
    double loss = 0.0;
    for (std::size_t i = 0; i < grad_output.size(); ++i) {
      const float error = lookup.output.values[i] - target.values[i];
      loss += static_cast<double>(error) * error;
      grad_output[i] = 2.0f * error / static_cast<float>(kBatch);
    }
    loss /= kBatch;
    student.step(lookup, grad_output, adagrad);
    if (step == 1 || step % 25 == 0 || step == steps)
      std::printf("step %4d  loss %.4f\n", step, loss);
  }
  return 0;
}
