// Restoring a checkpoint into a collection, with any number of ranks: each
// rank maps only the shard files that cover the rows it holds now, checks
// them, and copies its rows and optimizer state out. The bits come back
// exactly as saved.
#pragma once

#include <filesystem>
#include <string>

#include "rowshard/engine/embedding_collection.h"
#include "rowshard/io/checkpoint/manifest.h"
#include "rowshard/io/checkpoint/save.h"

namespace rowshard::checkpoint {

struct RestoreOptions {
  // Verify every mapped file's data checksum (reads each whole file once).
  bool verify_checksums = true;
};

struct Restored {
  int64_t step = 0;
  Extras extras;
  std::string config;
};

// Restores a whole collection, sharded or not, in one call:
//   checkpoint::restore(collection, "ckpt/ckpt-000500");
// Collective for a sharded collection. The collection must have the
// checkpoint's tables: same names, rows, dims, dtypes, optimizers and
// settings (pooling mode, padding_idx, max_norm, norm_type,
// scale_grad_by_freq, stochastic rounding and its seed, the optimizer's
// hyper-parameters); a mismatch throws InvalidArgument naming the table,
// the field and both values. Each table's steps taken come back too, so a
// restored table's next steps (stochastic rounding included) are those the
// saved one would have taken. A missing, truncated, corrupt or foreign file
// throws CorruptData (or IoError) naming the file and the field; any rank's
// failure is thrown on every rank, and tables are only written once every
// file a rank needs has been checked.
Restored restore(EmbeddingCollection& collection, const std::filesystem::path& directory,
                 const RestoreOptions& options = {});

// Reads and checks MANIFEST.json of `directory` (not collective).
Manifest read_manifest(const std::filesystem::path& directory);

// Checks one shard file of `table` against the manifest and its checksum;
// throws CorruptData or IoError naming the file and the field.
void verify_file(const std::filesystem::path& directory, const TableEntry& table,
                 const FileEntry& file);

// The whole of one table's weights (kind "weight": [rows, dim] in the
// table's dtype) or optimizer state ("state": [rows, state_columns] f32),
// from all its shard files, each checked against the manifest (and its
// checksum, with `verify`). Not collective.
std::vector<std::byte> read_whole(const std::filesystem::path& directory, const TableEntry& table,
                                  std::string_view kind, bool verify = true);

}  // namespace rowshard::checkpoint
