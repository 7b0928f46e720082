#include "tests/conformance/run_case.h"

#include <cmath>
#include <memory>
#include <optional>

#include "rowshard/engine/embedding.h"
#include "rowshard/engine/embedding_bag.h"
#include "rowshard/engine/error.h"
#include "rowshard/engine/optimizers/optimizer_config.h"
#include "tests/conformance/compare.h"

namespace rowshard::conformance {

std::span<const float> table_values(const Table& table) {
  return {table.weights().row<float>(0),
          static_cast<std::size_t>(table.num_embeddings() * table.embedding_dim())};
}

std::unique_ptr<Table> make_table(const Case& c, Device device) {
  const int64_t rows = c.weight.shape.at(0);
  const int64_t dim = c.weight.shape.size() > 1 ? c.weight.shape[1] : 1;
  RowStorage weights = RowStorage::copy_of(c.weight.values, rows, dim);
  const bool freeze = false;
  auto fill = [&](TableOptions& options) {
    options.name = c.directory.filename().string();
    options.num_embeddings = c.num_embeddings.value_or(0);
    options.embedding_dim = c.embedding_dim.value_or(0);
    options.padding_idx = c.padding_idx;
    options.max_norm = c.max_norm;
    options.norm_type = c.norm_type;
    options.scale_grad_by_freq = c.scale_grad_by_freq;
    options.device = device;
  };
  if (c.op == "embedding") {
    EmbeddingOptions options;
    fill(options);
    return std::make_unique<Embedding>(
        Embedding::from_pretrained(std::move(weights), options, freeze));
  }
  EmbeddingBagOptions options;
  fill(options);
  options.mode = c.mode;
  options.include_last_offset = c.include_last_offset;
  return std::make_unique<EmbeddingBag>(
      EmbeddingBag::from_pretrained(std::move(weights), options, freeze));
}

Lookup forward(Table& table, const Case& c) {
  if (auto* embedding = dynamic_cast<Embedding*>(&table))
    return embedding->forward({c.indices.values, c.indices.shape});
  BagInput input{c.indices.values, c.indices.shape, std::nullopt, std::nullopt, {}};
  if (c.offsets) input.offsets = c.offsets->values;
  if (c.per_sample_weights) {
    input.per_sample_weights = c.per_sample_weights->values;
    input.per_sample_weights_shape = c.per_sample_weights->shape;
  }
  return dynamic_cast<EmbeddingBag&>(table).forward(input);
}

namespace {

// Everything a case asks for, in the order CONFORMANCE.md gives.
void exercise(Table& table, const Case& c) {
  const Tolerance tolerance{c.rtol, c.atol};
  Lookup lookup = forward(table, c);
  compare("output", c.output, lookup.output.shape, lookup.output.values, tolerance);
  compare("weight_after_forward", c.weight_after_forward, c.weight.shape, table_values(table),
          tolerance);
  if (!c.grad_output) return;
  const Tensor gradient = table.dense_gradient(lookup, c.grad_output->values);
  compare("grad_weight", c.grad_weight, gradient.shape, gradient.values, tolerance);
  if (!c.optimizer) return;

  auto optimizer =
      make_optimizer(optimizer_config(*c.optimizer), table.num_embeddings(), table.embedding_dim());
  for (int step = 0; step < c.steps; ++step) {
    if (step > 0) lookup = forward(table, c);
    table.step(lookup, c.grad_output->values, *optimizer);
  }
  compare("weight_updated", c.weight_updated, c.weight.shape, table_values(table), tolerance);
  compare("optimizer_state", c.optimizer_state, optimizer->state_shape(), optimizer->state(),
          tolerance);
}

Verdict run_error_case(const Case& c) {
  std::unique_ptr<Table> table;
  Refusal refusal;
  try {
    table = make_table(c);
    exercise(*table, c);
  } catch (const OutOfRange& error) {
    refusal = {"out_of_range", error.what()};
  } catch (const InvalidArgument& error) {
    refusal = {"invalid_argument", error.what()};
  } catch (const Mismatch&) {
    // An error case compares nothing it could fail on; reaching a compare
    // means the call went through.
  }
  if (auto failed = check_refusal(*c.expect_error, refusal)) return *failed;
  if (table) {
    try {
      compare("weight (unchanged after the refusal)", FloatArray{c.weight.shape, c.weight.values},
              c.weight.shape, table_values(*table), Tolerance{0, 0});
    } catch (const Mismatch& mismatch) {
      return {Verdict::Outcome::failed, mismatch.detail};
    }
  }
  return {};
}

}  // namespace

std::optional<Verdict> check_refusal(const std::string& expected, const Refusal& refusal) {
  if (refusal.kind == expected ||
      (expected == "invalid_argument" && refusal.kind == "out_of_range"))
    return std::nullopt;
  return Verdict{Verdict::Outcome::failed,
                 message("expect_error, -, ", expected, ", ",
                         refusal.kind.empty() ? "no error" : refusal.kind + ": " + refusal.what)};
}

Verdict run_case(const Case& c) {
  if (c.expect_error) return run_error_case(c);
  try {
    std::unique_ptr<Table> table = make_table(c);
    exercise(*table, c);
  } catch (const Mismatch& mismatch) {
    return {Verdict::Outcome::failed, mismatch.detail};
  } catch (const Error& error) {
    return {Verdict::Outcome::failed, message("-, -, success, error: ", error.what())};
  }
  return {};
}

}  // namespace rowshard::conformance
