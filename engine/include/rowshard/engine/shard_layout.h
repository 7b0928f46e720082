// Where one table's rows and columns live across W ranks.
//
//   row-wise, contiguous: rank k owns rows [k * ceil(R/W), min(R, (k+1) * ceil(R/W)))
//   row-wise, cyclic:     rank k owns rows r with r % W == k (hot low ids,
//                         common when ids are assigned by frequency, spread
//                         over every rank)
//   table-wise:           one rank owns every row
//   column-wise:          every rank holds every row, rank k the columns
//                         [k * D / W, (k+1) * D / W) (so each rank has at
//                         least one column when D >= W)
//   data-parallel:        every rank holds the whole table
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rowshard {

enum class ShardingKind { row_wise, table_wise, column_wise, data_parallel };
enum class RowPlacement { contiguous, cyclic };

std::string_view sharding_kind_name(ShardingKind kind);

struct TableSharding {
  ShardingKind kind = ShardingKind::row_wise;
  RowPlacement placement = RowPlacement::contiguous;
  // Table-wise: the rank holding the table; -1 spreads tables round-robin.
  int home_rank = -1;
};

// The one set of names a user writes for a table's sharding (the job's
// `sharding`, rowshard-bench --sharding): row_wise, row_wise_cyclic,
// table_wise, column_wise, data_parallel. Empty for any other name.
std::optional<TableSharding> sharding_from_name(std::string_view name);
// The name sharding_from_name reads as `sharding` (home_rank aside).
std::string_view sharding_name(const TableSharding& sharding);
// Every name sharding_from_name accepts, comma separated, for error messages.
std::string valid_sharding_names();

class ShardLayout {
 public:
  // home_rank is the owner of a table-wise table; ignored otherwise.
  ShardLayout(ShardingKind kind, RowPlacement placement, int home_rank, int64_t num_rows,
              int64_t dim, int world_size);

  ShardingKind kind() const { return kind_; }
  RowPlacement placement() const { return placement_; }
  int home_rank() const { return home_rank_; }
  int64_t num_rows() const { return num_rows_; }
  int64_t dim() const { return dim_; }
  int world_size() const { return world_size_; }

  // Whether an id's lookup goes to one owner (row-wise, table-wise), to
  // every rank (column-wise), or stays local (data-parallel).
  bool routed_by_row() const {
    return kind_ == ShardingKind::row_wise || kind_ == ShardingKind::table_wise;
  }

  // Row-routed layouts: the rank that owns `row`, and its index there.
  int owner_of(int64_t row) const;
  int64_t local_row(int64_t row) const;
  // The global row of rank's local row `local`.
  int64_t global_row(int rank, int64_t local) const;

  // What rank `rank` stores: rows x columns, starting at column first_column.
  int64_t local_rows(int rank) const;
  int64_t local_dim(int rank) const;
  int64_t first_column(int rank) const;

 private:
  ShardingKind kind_;
  RowPlacement placement_;
  int home_rank_;
  int64_t num_rows_;
  int64_t dim_;
  int world_size_;
  int64_t block_;  // rows per rank, contiguous placement
};

}  // namespace rowshard
