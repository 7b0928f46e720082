#include "rowshard/engine/shard_layout.h"

#include <algorithm>
#include <array>
#include <utility>

#include "rowshard/engine/error.h"

namespace rowshard {

std::string_view sharding_kind_name(ShardingKind kind) {
  switch (kind) {
    case ShardingKind::row_wise: return "row_wise";
    case ShardingKind::table_wise: return "table_wise";
    case ShardingKind::column_wise: return "column_wise";
    case ShardingKind::data_parallel: return "data_parallel";
  }
  return "?";
}

namespace {

constexpr std::array<std::pair<std::string_view, TableSharding>, 5> kShardingNames = {{
    {"row_wise", {ShardingKind::row_wise, RowPlacement::contiguous, -1}},
    {"row_wise_cyclic", {ShardingKind::row_wise, RowPlacement::cyclic, -1}},
    {"table_wise", {ShardingKind::table_wise, RowPlacement::contiguous, -1}},
    {"column_wise", {ShardingKind::column_wise, RowPlacement::contiguous, -1}},
    {"data_parallel", {ShardingKind::data_parallel, RowPlacement::contiguous, -1}},
}};

}  // namespace

std::optional<TableSharding> sharding_from_name(std::string_view name) {
  for (const auto& [known, sharding] : kShardingNames)
    if (known == name) return sharding;
  return std::nullopt;
}

std::string_view sharding_name(const TableSharding& sharding) {
  for (const auto& [name, known] : kShardingNames)
    if (known.kind == sharding.kind && known.placement == sharding.placement) return name;
  return sharding_kind_name(sharding.kind);
}

std::string valid_sharding_names() {
  std::string names;
  for (const auto& entry : kShardingNames) {
    if (!names.empty()) names += ", ";
    names += entry.first;
  }
  return names;
}

ShardLayout::ShardLayout(ShardingKind kind, RowPlacement placement, int home_rank, int64_t num_rows,
                         int64_t dim, int world_size)
    : kind_(kind),
      placement_(placement),
      home_rank_(home_rank),
      num_rows_(num_rows),
      dim_(dim),
      world_size_(world_size) {
  ROWSHARD_ASSERT(world_size >= 1 && home_rank >= 0 && home_rank < world_size);
  block_ = std::max<int64_t>(1, (num_rows + world_size - 1) / world_size);
}

int ShardLayout::owner_of(int64_t row) const {
  if (kind_ == ShardingKind::table_wise) return home_rank_;
  if (placement_ == RowPlacement::cyclic) return static_cast<int>(row % world_size_);
  return static_cast<int>(row / block_);
}

int64_t ShardLayout::local_row(int64_t row) const {
  if (kind_ == ShardingKind::table_wise) return row;
  if (placement_ == RowPlacement::cyclic) return row / world_size_;
  return row % block_;
}

int64_t ShardLayout::global_row(int rank, int64_t local) const {
  switch (kind_) {
    case ShardingKind::row_wise:
      return placement_ == RowPlacement::cyclic ? local * world_size_ + rank
                                                : rank * block_ + local;
    case ShardingKind::table_wise:
    case ShardingKind::column_wise:
    case ShardingKind::data_parallel: break;
  }
  return local;
}

int64_t ShardLayout::local_rows(int rank) const {
  switch (kind_) {
    case ShardingKind::row_wise:
      if (placement_ == RowPlacement::cyclic)
        return rank < num_rows_ ? (num_rows_ - rank + world_size_ - 1) / world_size_ : 0;
      return std::clamp<int64_t>(num_rows_ - rank * block_, 0, block_);
    case ShardingKind::table_wise: return rank == home_rank_ ? num_rows_ : 0;
    case ShardingKind::column_wise:
    case ShardingKind::data_parallel: break;
  }
  return num_rows_;
}

int64_t ShardLayout::local_dim(int rank) const {
  if (kind_ != ShardingKind::column_wise) return dim_;
  return first_column(rank + 1) - first_column(rank);
}

int64_t ShardLayout::first_column(int rank) const {
  if (kind_ != ShardingKind::column_wise) return 0;
  return dim_ * rank / world_size_;
}

}  // namespace rowshard
