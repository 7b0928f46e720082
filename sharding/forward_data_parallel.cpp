// The forward's data-parallel features: pooled here, on this rank's replica.
#include "engine/backend.h"
#include "rowshard/sharding/sharded_collection.h"
#include "sharding/saved_exchange.h"

namespace rowshard {

void ShardedEmbeddingBagCollection::pool_data_parallel(const KeyedJaggedBatch& local_batch,
                                                       detail::SavedExchange& saved,
                                                       Tensor& output) const {
  const int64_t batch_size = local_batch.batch_size;
  std::vector<PoolingTask> local_tasks;
  for (int64_t f = 0; f < num_features(); ++f) {
    const int64_t t = table_of(f);
    if (layouts_[t].kind() != ShardingKind::data_parallel) continue;
    const EmbeddingBag& replica = shards_[t].table;
    PoolingTask task{
        &replica.weights(),
        {local_batch.values,
         std::span<const int64_t>(saved.bounds).subspan(f * batch_size, batch_size + 1),
         feature(f).weighted ? *local_batch.weights : std::span<const float>(), replica.mode(),
         replica.padding_idx().value_or(kNoPadding)},
        output.values.data() + column_offset(f),
        nullptr,
        total_dim()};
    if (replica.mode() == PoolingMode::max) {
      saved.local_max_positions.resize(output.values.size());
      task.max_positions = saved.local_max_positions.data() + column_offset(f);
    }
    local_tasks.push_back(task);
  }
  backend().pooled_forward_checked_ids(local_tasks);
}

}  // namespace rowshard
