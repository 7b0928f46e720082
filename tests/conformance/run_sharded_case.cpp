#include "tests/conformance/run_sharded_case.h"

#include "engine/bag_layout.h"
#include "engine/collection_loader.h"
#include "rowshard/engine/error.h"
#include "rowshard/sharding/collectives.h"
#include "rowshard/sharding/sharded_collection.h"
#include "tests/conformance/compare.h"

namespace rowshard::conformance {
namespace {

// The first mismatch this rank saw. Checks never interrupt the case: the
// other ranks are still going through the same collectives.
class FirstMismatch {
 public:
  template <typename Check>
  void check(Check&& run) {
    if (detail_) return;
    try {
      run();
    } catch (const Mismatch& mismatch) {
      detail_ = mismatch.detail;
    }
  }
  const std::optional<std::string>& detail() const { return detail_; }

 private:
  std::optional<std::string> detail_;
};

CollectionTableConfig table_config(const Case& c) {
  CollectionTableConfig config;
  EmbeddingBagOptions& table = config.table;
  table.name = c.directory.filename().string();
  table.num_embeddings = c.weight.shape.at(0);
  table.embedding_dim = c.weight.shape.size() > 1 ? c.weight.shape[1] : 1;
  table.mode = c.mode;
  table.padding_idx = c.padding_idx;
  table.max_norm = c.max_norm;
  table.norm_type = c.norm_type;
  table.scale_grad_by_freq = c.scale_grad_by_freq;
  if (c.optimizer) config.optimizer = optimizer_config(*c.optimizer);
  return config;
}

// This rank's shard of table 0 and its optimizer state, as the expected
// arrays' flat indices and the values the shard holds there.
struct ShardValues {
  std::vector<int64_t> weight_at, state_at;
  std::vector<float> weights, state;
};

ShardValues shard_values(ShardedEmbeddingBagCollection& sharded, int rank) {
  ShardValues out;
  const ShardLayout& layout = sharded.layout(0);
  const EmbeddingBag& shard = sharded.local_table(0);
  const RowOptimizer& optimizer = sharded.local_optimizer(0);
  const bool per_row_state = !optimizer.state().empty() && optimizer.state_shape().size() == 1;
  for (int64_t local = 0; local < shard.num_embeddings(); ++local) {
    const int64_t row = layout.global_row(rank, local);
    for (int64_t c = 0; c < shard.embedding_dim(); ++c) {
      const int64_t column = layout.first_column(rank) + c;
      out.weight_at.push_back(row * layout.dim() + column);
      out.weights.push_back(shard.weights().row<float>(local)[c]);
      if (!per_row_state && !optimizer.state().empty()) {
        out.state_at.push_back(row * layout.dim() + column);
        out.state.push_back(optimizer.state()[local * shard.embedding_dim() + c]);
      }
    }
    if (per_row_state) {
      out.state_at.push_back(row);
      out.state.push_back(optimizer.state()[local]);
    }
  }
  return out;
}

// What this rank saw: a refusal (its kind and message) or a first mismatch.
struct LocalRun {
  Refusal refusal;
  FirstMismatch mismatch;
};

LocalRun run_here(const Case& c, Communicator& comm, ShardingKind kind) {
  LocalRun run;
  const Tolerance tolerance{c.rtol, c.atol};
  std::unique_ptr<ShardedEmbeddingBagCollection> sharded;
  try {
    // The whole case's input is checked the way EmbeddingBag checks it; it
    // is the same on every rank, so every rank refuses it alike.
    BagInput input{c.indices.values, c.indices.shape, std::nullopt, std::nullopt, {}};
    if (c.offsets) input.offsets = c.offsets->values;
    if (c.per_sample_weights) {
      input.per_sample_weights = c.per_sample_weights->values;
      input.per_sample_weights_shape = c.per_sample_weights->shape;
    }
    const std::vector<int64_t> bounds =
        bag_bounds("EmbeddingBag 'case'", input, c.include_last_offset);

    const CollectionTableConfig config = table_config(c);
    const int64_t dim = config.table.embedding_dim;
    sharded = std::make_unique<ShardedEmbeddingBagCollection>(
        comm, std::vector{config}, std::vector{TableSharding{kind}},
        std::vector<FeatureConfig>{{"bags", config.table.name, c.per_sample_weights.has_value()}});
    const auto read_row = [&](int64_t row, int64_t first_column, std::span<float> out) {
      for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = c.weight.values[row * dim + first_column + static_cast<int64_t>(i)];
    };
    detail::CollectionLoader::load(*sharded, 0, read_row, /*freeze=*/false);

    const int64_t bags = static_cast<int64_t>(bounds.size()) - 1;
    const int64_t first_bag = bags * comm.rank() / comm.size();
    const int64_t end_bag = bags * (comm.rank() + 1) / comm.size();
    const int64_t first = bounds[first_bag], end = bounds[end_bag];
    std::vector<int64_t> lengths;
    for (int64_t b = first_bag; b < end_bag; ++b) lengths.push_back(bounds[b + 1] - bounds[b]);
    const std::span<const int64_t> values(c.indices.values.data() + first, end - first);
    std::optional<std::span<const float>> weights;
    if (c.per_sample_weights)
      weights = std::span<const float>(c.per_sample_weights->values.data() + first, end - first);
    const std::vector<std::string> keys = {"bags"};
    const KeyedJaggedBatch batch{keys, end_bag - first_bag, values, lengths, {}, weights};

    CollectionLookup lookup = sharded->forward(batch);
    std::vector<int64_t> output_at(lookup.output.values.size());
    for (std::size_t i = 0; i < output_at.size(); ++i)
      output_at[i] = first_bag * dim + static_cast<int64_t>(i);
    run.mismatch.check([&] {
      if (c.output && c.output->values.size() != static_cast<std::size_t>(bags * dim))
        throw Mismatch{
            message("output, shape, ", c.output->values.size(), " values, ", bags * dim)};
      compare_at("output", c.output, output_at, lookup.output.values, tolerance);
    });
    ShardValues after_forward = shard_values(*sharded, comm.rank());
    run.mismatch.check([&] {
      compare_at("weight_after_forward", c.weight_after_forward, after_forward.weight_at,
                 after_forward.weights, tolerance);
    });
    if (!c.grad_output) return run;
    const std::span<const float> grad(c.grad_output->values.data() + first_bag * dim,
                                      (end_bag - first_bag) * dim);
    // The gradient on this rank's shard, spread over its rows (untouched
    // rows are zero, as in the dense expected array).
    const SparseGradient gradient = sharded->sparse_gradient(lookup, grad, 0);
    std::vector<float> dense(after_forward.weights.size(), 0.0f);
    const int64_t local_dim = sharded->local_table(0).embedding_dim();
    for (std::size_t i = 0; i < gradient.rows.size(); ++i)
      std::copy_n(&gradient.values[i * local_dim], local_dim, &dense[gradient.rows[i] * local_dim]);
    run.mismatch.check([&] {
      compare_at("grad_weight", c.grad_weight, after_forward.weight_at, dense, tolerance);
    });
    if (c.optimizer) {
      for (int step = 0; step < c.steps; ++step) {
        if (step > 0) lookup = sharded->forward(batch);
        sharded->step(lookup, grad);
      }
      const ShardValues updated = shard_values(*sharded, comm.rank());
      run.mismatch.check([&] {
        compare_at("weight_updated", c.weight_updated, updated.weight_at, updated.weights,
                   tolerance);
      });
      run.mismatch.check([&] {
        compare_at("optimizer_state", c.optimizer_state, updated.state_at, updated.state,
                   tolerance);
      });
    }
  } catch (const OutOfRange& error) {
    run.refusal = {"out_of_range", error.what()};
  } catch (const InvalidArgument& error) {
    run.refusal = {"invalid_argument", error.what()};
  }
  if (!run.refusal.kind.empty() && sharded) {
    const ShardValues now = shard_values(*sharded, comm.rank());
    run.mismatch.check([&] {
      compare_at("weight (unchanged after the refusal)",
                 FloatArray{c.weight.shape, c.weight.values}, now.weight_at, now.weights,
                 Tolerance{0, 0});
    });
  }
  return run;
}

Verdict local_verdict(const Case& c, const LocalRun& run) {
  if (c.expect_error) {
    if (auto failed = check_refusal(*c.expect_error, run.refusal)) return *failed;
  } else if (!run.refusal.kind.empty()) {
    return {Verdict::Outcome::failed, message("-, -, success, error: ", run.refusal.what)};
  }
  if (run.mismatch.detail()) return {Verdict::Outcome::failed, *run.mismatch.detail()};
  return {};
}

}  // namespace

Verdict run_sharded_case(const Case& c, Communicator& comm, ShardingKind kind) {
  const int64_t dim = c.weight.shape.size() > 1 ? c.weight.shape[1] : 1;
  if (c.op != "embedding_bag" ||
      (kind == ShardingKind::column_wise && (c.max_norm || dim < comm.size())))
    return {Verdict::Outcome::skipped, {}};

  const Verdict mine = local_verdict(c, run_here(c, comm, kind));
  // Everyone learns every rank's failure; the lowest failing rank's is kept.
  const std::string report = mine.outcome == Verdict::Outcome::failed
                                 ? message("rank ", comm.rank(), ": ", mine.detail)
                                 : std::string();
  for (const std::string& text : allgather_text(comm, report))
    if (!text.empty()) return {Verdict::Outcome::failed, text};
  return {};
}

}  // namespace rowshard::conformance
