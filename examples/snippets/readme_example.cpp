// The README's library example as a program: the names it takes as given
// are declared first (tests/snippets_test.py checks the snippet's text, so
// clang-format leaves it alone).
#include <rowshard/rowshard.h>

#include <vector>

int main() {
  const std::vector<rowshard::CollectionTableConfig> table_configs = {
      {.table = {}, .optimizer = {}}};
  const std::vector<rowshard::TableSharding> shardings(1);
  const std::vector<rowshard::FeatureConfig> features = {{.name = "f", .table = "table"}};
  const std::vector<std::string> keys = {"f"};
  const std::vector<int64_t> ids = {}, lengths = {0};
  const rowshard::KeyedJaggedBatch local_batch{
      .keys = keys, .batch_size = 1, .values = ids, .lengths = lengths};
  const rowshard::KeyedJaggedBatch& eval_batch = local_batch;
  const std::vector<float> grad_output;
  const int64_t step = 1;
  // clang-format off
  // snippet README.md
#include <rowshard/rowshard.h>

rowshard::keep_freed_memory_for_reuse();           // once, first thing in main()
auto comm = rowshard::world_communicator();        // MPI, or alone
rowshard::ShardedEmbeddingBagCollection tables(*comm, table_configs, shardings, features);
rowshard::CollectionLookup lookup = tables.forward(local_batch);  // [B, sum of dims]
// ... your model: compute d(loss)/d(lookup.output) ...
tables.step(lookup, grad_output);                  // fused backward + optimizer, sharded
rowshard::Tensor pooled = tables.forward_no_grad(eval_batch);  // evaluation: nothing kept
rowshard::checkpoint::save(tables, {.root = "ckpt", .step = step});     // whole state
  // end snippet
  // clang-format on
  return 0;
}
