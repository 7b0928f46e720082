#include "sharding/shard_storage.h"

#include <algorithm>
#include <vector>

#include "engine/normal_init.h"
#include "rowshard/engine/element_types.h"

namespace rowshard {

std::optional<int64_t> padding_row(const EmbeddingBagOptions& table) {
  if (!table.padding_idx) return std::nullopt;
  const int64_t p = *table.padding_idx;
  return p < 0 ? p + table.num_embeddings : p;
}

std::optional<int64_t> local_padding_row(const ShardLayout& layout, int rank,
                                         std::optional<int64_t> padding_row) {
  if (!padding_row) return std::nullopt;
  if (!layout.routed_by_row()) return padding_row;
  if (layout.owner_of(*padding_row) != rank) return std::nullopt;
  return layout.local_row(*padding_row);
}

RowStorage initial_shard(const ShardLayout& layout, int rank, DType dtype, uint64_t seed,
                         std::optional<int64_t> padding_row, MemoryPlacement placement) {
  const int64_t rows = layout.local_rows(rank);
  const int64_t dim = layout.local_dim(rank);
  const int64_t first_column = layout.first_column(rank);
  const std::optional<int64_t> shard_padding_row = local_padding_row(layout, rank, padding_row);
  RowStorage storage = RowStorage::allocate(rows, dim, dtype, placement);
  visit_element_type(dtype, [&]<typename Element>(Element) {
#pragma omp parallel
    {
      // A row's values are drawn in fp32, then rounded into storage.
      std::vector<float> values(static_cast<std::size_t>(dim));
#pragma omp for schedule(static)
      for (int64_t local = 0; local < rows; ++local) {
        Element* out = storage.mutable_row<Element>(local);
        if (shard_padding_row && local == *shard_padding_row) {
          std::fill(values.begin(), values.end(), 0.0f);
        } else {
          const int64_t row = layout.global_row(rank, local);
          standard_normals(values, seed, static_cast<uint64_t>(row * layout.dim() + first_column));
        }
        for (int64_t d = 0; d < dim; ++d) out[d] = from_float<Element>(values[d]);
      }
    }
  });
  return storage;
}

}  // namespace rowshard
