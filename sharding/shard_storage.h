// The initial values of one rank's shard of a table: exactly the values the
// unsharded table (N(0, 1) from its seed, padding row zeroed) has at the
// rows and columns the rank holds.
#pragma once

#include <cstdint>
#include <optional>

#include "rowshard/engine/dtype.h"
#include "rowshard/engine/embedding_bag.h"
#include "rowshard/engine/row_storage.h"
#include "rowshard/engine/shard_layout.h"

namespace rowshard {

// The table's padding row counted from the start (padding_idx may count
// from the end), or nullopt.
std::optional<int64_t> padding_row(const EmbeddingBagOptions& table);

// `padding_row` is the table's padding row (global, non-negative) if any;
// the shard is placed at `placement` (the table's memory_placement).
RowStorage initial_shard(const ShardLayout& layout, int rank, DType dtype, uint64_t seed,
                         std::optional<int64_t> padding_row, MemoryPlacement placement);

// The padding row's index in rank's shard, or nullopt when the rank does
// not hold it.
std::optional<int64_t> local_padding_row(const ShardLayout& layout, int rank,
                                         std::optional<int64_t> padding_row);

}  // namespace rowshard
