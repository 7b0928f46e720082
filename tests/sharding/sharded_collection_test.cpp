// The sharded collection against the unsharded one on the same global batch,
// under mpirun with any number of ranks: every rank builds the unsharded
// collection too, runs it on the whole batch, and checks its own examples'
// outputs (of forward and of forward_no_grad) and its own shard's rows and
// optimizer state.
#include "rowshard/sharding/sharded_collection.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <random>
#include <set>
#include <utility>

#include "rowshard/engine/embedding_bag_collection.h"
#include "rowshard/engine/error.h"
#include "rowshard/sharding/collectives.h"

namespace rowshard {
namespace {

Communicator& world() {
  static std::unique_ptr<Communicator> comm = world_communicator();
  return *comm;
}

CollectionTableConfig table(std::string name, int64_t rows, int64_t dim, PoolingMode mode,
                            OptimizerKind optimizer, std::optional<int64_t> padding = {}) {
  CollectionTableConfig config;
  config.table.name = std::move(name);
  config.table.num_embeddings = rows;
  config.table.embedding_dim = dim;
  config.table.mode = mode;
  config.table.padding_idx = padding;
  config.table.seed = static_cast<uint64_t>(rows * 7 + dim);
  config.optimizer.kind = optimizer;
  config.optimizer.lr = 0.1f;
  config.optimizer.weight_decay = optimizer == OptimizerKind::rowwise_adagrad ? 0.01f : 0.0f;
  return config;
}

// A global batch in KeyedJaggedBatch layout, and a rank's slice of it.
struct Batch {
  int64_t batch_size = 0;
  std::vector<int64_t> values, lengths;
  std::vector<float> weights;
};

Batch random_batch(std::mt19937_64& rng, int64_t batch_size, const std::vector<int64_t>& rows,
                   const std::vector<int64_t>& max_length) {
  Batch batch{batch_size, {}, {}, {}};
  std::uniform_real_distribution<float> weight(-1.0f, 1.0f);
  for (std::size_t f = 0; f < rows.size(); ++f)
    for (int64_t b = 0; b < batch_size; ++b) {
      const int64_t length = rng() % 5 == 0 ? 0 : static_cast<int64_t>(rng() % (max_length[f] + 1));
      batch.lengths.push_back(length);
      for (int64_t e = 0; e < length; ++e) {
        // Skewed ids: repeats within and across bags and ranks.
        const int64_t id = static_cast<int64_t>(rng() % rows[f]);
        batch.values.push_back(rng() % 2 ? id : id % 5);
        batch.weights.push_back(weight(rng));
      }
    }
  return batch;
}

// Examples [first, end) of every feature.
Batch slice(const Batch& global, int64_t first, int64_t end) {
  Batch local{end - first, {}, {}, {}};
  const int64_t features = static_cast<int64_t>(global.lengths.size()) / global.batch_size;
  int64_t at = 0;
  for (int64_t f = 0; f < features; ++f)
    for (int64_t b = 0; b < global.batch_size; ++b) {
      const int64_t length = global.lengths[f * global.batch_size + b];
      if (b >= first && b < end) {
        local.lengths.push_back(length);
        local.values.insert(local.values.end(), global.values.begin() + at,
                            global.values.begin() + at + length);
        local.weights.insert(local.weights.end(), global.weights.begin() + at,
                             global.weights.begin() + at + length);
      }
      at += length;
    }
  return local;
}

void expect_close(std::span<const float> got, std::span<const float> expected,
                  const std::string& what) {
  ASSERT_EQ(got.size(), expected.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], expected[i], 1e-6 + 1e-5 * std::fabs(expected[i]))
        << what << " at " << i << " on rank " << world().rank();
}

struct Scenario {
  std::string name;
  std::vector<TableSharding> sharding;
  bool empty_rank = false;  // rank 1 gets no examples
};

// Every scenario runs on the same tables and features; only the sharding
// and the split of the global batch over the ranks change.
class ShardedVersusUnsharded : public ::testing::TestWithParam<Scenario> {
 protected:
  // Dims of at least 4 so that column-wise sharding works up to 4 ranks;
  // "tiny" has fewer rows than ranks.
  const std::vector<CollectionTableConfig> tables = {
      table("a", 61, 5, PoolingMode::sum, OptimizerKind::rowwise_adagrad),
      table("b", 23, 4, PoolingMode::mean, OptimizerKind::adagrad, 2),
      table("c", 17, 6, PoolingMode::max, OptimizerKind::rowwise_adagrad),
      table("tiny", 3, 4, PoolingMode::sum, OptimizerKind::sgd, -1)};
  const std::vector<FeatureConfig> features = {{"clicks", "a", true}, {"user", "b", false},
                                               {"views", "a", false}, {"shop", "c", false},
                                               {"never", "b", false}, {"flag", "tiny", false}};
  const std::vector<std::string> keys = {"clicks", "user", "views", "shop", "never", "flag"};
  const std::vector<int64_t> rows = {61, 23, 61, 17, 23, 3};
  const std::vector<int64_t> max_length = {9, 3, 14, 5, 0, 2};
  const int64_t global_batch = 29;

  // This rank's examples [first, end) of the global batch: rank k's are
  // [split[k], split[k + 1]); with empty_rank, rank 1 has none and the
  // others share the batch.
  std::pair<int64_t, int64_t> local_examples() const {
    const int ranks = world().size();
    std::vector<int64_t> split(ranks + 1, 0);
    const bool skip_rank_one = GetParam().empty_rank && ranks > 1;
    const int sharing = skip_rank_one ? ranks - 1 : ranks;
    for (int k = 0, part = 0; k < ranks; ++k) {
      if (!(skip_rank_one && k == 1)) ++part;
      split[k + 1] = global_batch * part / sharing;
    }
    return {split[world().rank()], split[world().rank() + 1]};
  }
};

TEST_P(ShardedVersusUnsharded, OutputsWeightsAndStatesMatch) {
  Communicator& comm = world();
  const Scenario scenario = GetParam();
  EmbeddingBagCollection reference(tables, features);
  ShardedEmbeddingBagCollection sharded(comm, tables, scenario.sharding, features);
  const int me = comm.rank();
  const auto [first, end] = local_examples();

  std::mt19937_64 rng(77);
  for (int step = 0; step < 3; ++step) {
    const Batch global = random_batch(rng, global_batch, rows, max_length);
    const Batch local = slice(global, first, end);
    const CollectionLookup expected = reference.forward(
        {keys, global.batch_size, global.values, global.lengths, {}, global.weights});
    const CollectionLookup got =
        sharded.forward({keys, local.batch_size, local.values, local.lengths, {}, local.weights});
    const int64_t width = reference.total_dim();
    expect_close(got.output.values,
                 std::span(expected.output.values).subspan(first * width, (end - first) * width),
                 "output, step " + std::to_string(step));

    std::vector<float> grad(expected.output.values.size());
    std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
    for (float& g : grad) g = unit(rng);
    reference.step(expected, grad);
    sharded.step(got, std::span(grad).subspan(first * width, (end - first) * width));

    for (int64_t t = 0; t < reference.num_tables(); ++t) {
      const ShardLayout& layout = sharded.layout(t);
      const EmbeddingBag& shard = sharded.local_table(t);
      const EmbeddingBag& whole = reference.local_table(t);
      const int64_t dim = layout.dim();
      std::vector<float> got_rows, expected_rows, got_state, expected_state;
      const auto state = sharded.local_optimizer(t).state();
      const auto whole_state = reference.local_optimizer(t).state();
      const bool per_row_state =
          !state.empty() && sharded.local_optimizer(t).state_shape().size() == 1;
      for (int64_t local_row = 0; local_row < shard.num_embeddings(); ++local_row) {
        const int64_t row = layout.global_row(me, local_row);
        for (int64_t c = 0; c < shard.embedding_dim(); ++c) {
          got_rows.push_back(shard.weights().row<float>(local_row)[c]);
          expected_rows.push_back(whole.weights().row<float>(row)[layout.first_column(me) + c]);
          if (!per_row_state && !state.empty()) {
            got_state.push_back(state[local_row * shard.embedding_dim() + c]);
            expected_state.push_back(whole_state[row * dim + layout.first_column(me) + c]);
          }
        }
        if (per_row_state) {
          got_state.push_back(state[local_row]);
          expected_state.push_back(whole_state[row]);
        }
      }
      const std::string where = "table " + std::to_string(t) + ", step " + std::to_string(step);
      expect_close(got_rows, expected_rows, "weights of " + where);
      expect_close(got_state, expected_state, "optimizer state of " + where);
    }
  }
}

// Float for float, including the sign of zeros and NaN payloads.
void expect_same_bits(std::span<const float> got, std::span<const float> expected,
                      const std::string& what) {
  ASSERT_EQ(got.size(), expected.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i)
    ASSERT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(expected[i]))
        << what << " at " << i << " on rank " << world().rank() << ": " << got[i] << " versus "
        << expected[i];
}

// Between training steps, so that the tables it reads have moved.
TEST_P(ShardedVersusUnsharded, ForwardNoGradMatchesForwardAndTheUnshardedCollection) {
  Communicator& comm = world();
  EmbeddingBagCollection reference(tables, features);
  ShardedEmbeddingBagCollection sharded(comm, tables, GetParam().sharding, features);
  const auto [first, end] = local_examples();
  const int64_t width = reference.total_dim();

  std::mt19937_64 rng(78);
  for (int step = 0; step < 3; ++step) {
    const Batch global = random_batch(rng, global_batch, rows, max_length);
    const Batch local = slice(global, first, end);
    const KeyedJaggedBatch local_batch{keys, local.batch_size, local.values, local.lengths,
                                       {},   local.weights};
    const Tensor expected = reference.forward_no_grad(
        {keys, global.batch_size, global.values, global.lengths, {}, global.weights});
    const Tensor got = sharded.forward_no_grad(local_batch);
    const CollectionLookup lookup = sharded.forward(local_batch);
    const std::string where = ", step " + std::to_string(step);
    EXPECT_EQ(got.shape, lookup.output.shape);
    expect_same_bits(got.values, lookup.output.values, "forward_no_grad versus forward" + where);
    expect_close(got.values,
                 std::span(expected.values).subspan(first * width, (end - first) * width),
                 "forward_no_grad versus unsharded" + where);

    std::vector<float> grad(expected.values.size());
    std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
    for (float& g : grad) g = unit(rng);
    reference.step(
        reference.forward(
            {keys, global.batch_size, global.values, global.lengths, {}, global.weights}),
        grad);
    sharded.step(lookup, std::span(grad).subspan(first * width, (end - first) * width));
  }
}

TableSharding row(RowPlacement placement = RowPlacement::contiguous) {
  return {ShardingKind::row_wise, placement, -1};
}
TableSharding table_wise() { return {ShardingKind::table_wise, RowPlacement::contiguous, -1}; }
TableSharding column() { return {ShardingKind::column_wise, RowPlacement::contiguous, -1}; }
TableSharding replicated() { return {ShardingKind::data_parallel, RowPlacement::contiguous, -1}; }

INSTANTIATE_TEST_SUITE_P(
    Plans, ShardedVersusUnsharded,
    ::testing::Values(
        Scenario{"row_contiguous", {row(), row(), row(), row()}},
        Scenario{"row_cyclic", std::vector<TableSharding>(4, row(RowPlacement::cyclic))},
        Scenario{"table_wise", std::vector<TableSharding>(4, table_wise())},
        Scenario{"column_wise", std::vector<TableSharding>(4, column())},
        Scenario{"data_parallel", std::vector<TableSharding>(4, replicated())},
        Scenario{"mixed", {row(RowPlacement::cyclic), column(), table_wise(), replicated()}},
        Scenario{"mixed_with_an_empty_rank", {row(), table_wise(), column(), replicated()}, true}),
    [](const auto& info) { return info.param.name; });

// Deduplication changes what travels, never the result: each distinct id a
// rank needs from another owner is sent once per table (two features share
// table "a"), every occurrence without deduplication, and the ids a rank
// owns itself are not counted as sent either way.
TEST(ShardedDeduplication, SendsEachRemoteIdOncePerTableAndChangesNoBits) {
  Communicator& comm = world();
  const std::vector<CollectionTableConfig> tables = {
      table("a", 30, 4, PoolingMode::sum, OptimizerKind::rowwise_adagrad)};
  const std::vector<FeatureConfig> features = {{"f", "a", false}, {"g", "a", false}};
  const std::vector<std::string> keys = {"f", "g"};
  ShardedEmbeddingBagCollection deduplicating(comm, tables, {row()}, features);
  ShardedEmbeddingBagCollection each_occurrence(comm, tables, {row()}, features,
                                                {.deduplicate_ids = false});
  // Both features' bags repeat rows, and row me * 7 % 30, which this rank
  // may own.
  const int64_t mine = comm.rank() * 7 % 30;
  const std::vector<int64_t> values = {0, 9, 3, 3, mine, 9, 27, 0, 27, mine};
  const std::vector<int64_t> lengths = {3, 2, 1, 4};
  const KeyedJaggedBatch batch{keys, 2, values, lengths, {}, std::nullopt};

  const ShardLayout& layout = deduplicating.layout(0);
  std::set<int64_t> distinct_remote;
  int64_t remote_entries = 0;
  for (int64_t row : values) {
    if (layout.owner_of(row) == comm.rank()) continue;
    distinct_remote.insert(row);
    ++remote_entries;
  }
  const Tensor deduplicated = deduplicating.forward_no_grad(batch);
  EXPECT_EQ(deduplicating.last_stats().ids_sent, static_cast<int64_t>(distinct_remote.size()));
  const Tensor every = each_occurrence.forward_no_grad(batch);
  EXPECT_EQ(each_occurrence.last_stats().ids_sent, remote_entries);
  expect_same_bits(deduplicated.values, every.values, "deduplicated versus every occurrence");
}

const std::vector<std::string> single_key = {"f"};

TEST(ShardedFailure, BadIdOnOneRankIsReportedOnEveryRankAndChangesNothing) {
  Communicator& comm = world();
  const std::vector<CollectionTableConfig> tables = {
      table("a", 40, 4, PoolingMode::sum, OptimizerKind::sgd)};
  ShardedEmbeddingBagCollection sharded(comm, tables, {row()}, {{"f", "a", false}});
  const int bad_rank = comm.size() - 1;
  const std::vector<int64_t> values = {1, comm.rank() == bad_rank ? 40 : 2};
  const std::vector<int64_t> lengths = {2};
  try {
    sharded.forward({single_key, 1, values, lengths, {}, std::nullopt});
    FAIL() << "rank " << comm.rank() << " accepted the batch";
  } catch (const OutOfRange& error) {
    // Which rank failed is only said when there are several.
    const std::string prefix =
        comm.size() > 1 ? "rank " + std::to_string(bad_rank) + ": " : std::string();
    EXPECT_EQ(std::string(error.what()),
              prefix +
                  "ShardedEmbeddingBagCollection feature 'f' (table 'a'): index 40 "
                  "at position 1 is out of range [0, 40)");
  }
  // Still in step: a collective afterwards works on every rank.
  std::vector<int64_t> one = {1};
  allreduce_sum<int64_t>(comm, one);
  EXPECT_EQ(one[0], comm.size());
}

// The kind and message of the rowshard::Error that `call` throws.
template <typename Call>
std::string error_of(const Call& call) {
  try {
    call();
  } catch (const OutOfRange& error) {
    return std::string("OutOfRange: ") + error.what();
  } catch (const InvalidArgument& error) {
    return std::string("InvalidArgument: ") + error.what();
  } catch (const Error& error) {
    return std::string("Error: ") + error.what();
  }
  return "nothing thrown";
}

TEST(ShardedFailure, ForwardNoGradRefusesABadIdAsForwardDoes) {
  Communicator& comm = world();
  const int bad_rank = comm.size() - 1;
  const std::vector<int64_t> bad_values = {1, comm.rank() == bad_rank ? 40 : 2};
  const std::vector<int64_t> good_values = {1, 2};
  const std::vector<int64_t> lengths = {2};
  const std::string prefix =
      comm.size() > 1 ? "rank " + std::to_string(bad_rank) + ": " : std::string();
  for (const TableSharding& sharding : {row(), table_wise(), column(), replicated()}) {
    const std::string kind(sharding_kind_name(sharding.kind));
    ShardedEmbeddingBagCollection sharded(comm,
                                          {table("a", 40, 4, PoolingMode::sum, OptimizerKind::sgd)},
                                          {sharding}, {{"f", "a", false}});
    const std::string through_forward = error_of([&] {
      sharded.forward({single_key, 1, bad_values, lengths, {}, std::nullopt});
    });
    const std::string through_no_grad = error_of([&] {
      sharded.forward_no_grad({single_key, 1, bad_values, lengths, {}, std::nullopt});
    });
    EXPECT_EQ(through_forward,
              "OutOfRange: " + prefix +
                  "ShardedEmbeddingBagCollection feature 'f' (table 'a'): index 40 at "
                  "position 1 is out of range [0, 40)")
        << kind;
    EXPECT_EQ(through_no_grad, through_forward) << kind;
    // Still in step: the next call works on every rank.
    EXPECT_EQ(
        sharded.forward_no_grad({single_key, 1, good_values, lengths, {}, std::nullopt}).shape,
        (Shape{1, 4}))
        << kind;
  }
}

TEST(ShardedFailure, BatchWithFeaturesInAnotherOrderIsRefusedOnEveryRank) {
  Communicator& comm = world();
  const std::vector<CollectionTableConfig> tables = {
      table("a", 40, 4, PoolingMode::sum, OptimizerKind::sgd),
      table("b", 40, 6, PoolingMode::sum, OptimizerKind::sgd)};
  for (const TableSharding& sharding : {row(), table_wise(), column(), replicated()}) {
    ShardedEmbeddingBagCollection sharded(comm, tables, {sharding, sharding},
                                          {{"f", "a", false}, {"g", "b", false}});
    const std::vector<int64_t> values = {1, 2};
    const std::vector<int64_t> lengths = {1, 1};
    const std::vector<std::string> in_order = {"f", "g"}, swapped = {"g", "f"};
    EXPECT_THAT(error_of([&] {
                  sharded.forward({swapped, 1, values, lengths, {}, std::nullopt});
                }),
                ::testing::HasSubstr("the batch's feature 0 is 'g' but feature 0 is 'f'"))
        << sharding_kind_name(sharding.kind);
    const Tensor output = sharded.forward_no_grad({in_order, 1, values, lengths, {}, std::nullopt});
    EXPECT_EQ(sharded.feature_view(output, "g").dim, 6);
    EXPECT_EQ(sharded.feature_view(output, "g").data, output.values.data() + 4);
  }
}

TEST(ShardedFailure, StepRefusesALookupOfAnotherCollection) {
  Communicator& comm = world();
  const std::vector<CollectionTableConfig> tables = {
      table("a", 40, 4, PoolingMode::sum, OptimizerKind::sgd)};
  const std::vector<FeatureConfig> features = {{"f", "a", false}};
  ShardedEmbeddingBagCollection sharded(comm, tables, {row()}, features);
  EmbeddingBagCollection single(tables, features);
  const std::vector<int64_t> values = {1, 2};
  const std::vector<int64_t> lengths = {2};
  const std::vector<std::string> keys = {"f"};
  const CollectionLookup foreign = single.forward({keys, 1, values, lengths, {}, std::nullopt});
  const std::vector<float> grad(4, 1.0f);
  EXPECT_THAT(error_of([&] { sharded.step(foreign, grad); }),
              ::testing::HasSubstr("this lookup was not made by this collection's forward()"));
  EXPECT_THAT(error_of([&] {
                single.step(sharded.forward({keys, 1, values, lengths, {}, std::nullopt}), grad);
              }),
              ::testing::HasSubstr("EmbeddingBagCollection: this lookup was not made"));
}

TEST(ShardedConfig, RefusesWhatAShardingCannotDo) {
  auto with_max_norm = table("a", 40, 8, PoolingMode::sum, OptimizerKind::sgd);
  with_max_norm.table.max_norm = 1.0;
  EXPECT_THROW(
      ShardedEmbeddingBagCollection(world(), {with_max_norm}, {column()}, {{"f", "a", false}}),
      InvalidArgument);
  auto narrow = table("a", 40, 1, PoolingMode::sum, OptimizerKind::sgd);
  if (world().size() > 1) {
    EXPECT_THROW(ShardedEmbeddingBagCollection(world(), {narrow}, {column()}, {{"f", "a", false}}),
                 InvalidArgument);
  }
}

}  // namespace
}  // namespace rowshard
