// Saving a collection's tables and optimizer state as a checkpoint
// (docs/checkpoint-format.md), atomically: a crash at any point leaves the
// previous checkpoints whole and `latest` never points at a partial one.
// Saving a step that already has a checkpoint replaces it atomically: at
// every moment ckpt-<step> is complete, the old one or the new one.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "rowshard/engine/embedding_collection.h"
#include "rowshard/io/checkpoint/history.h"
#include "rowshard/io/file_system.h"

namespace rowshard::checkpoint {

// Named blobs the caller adds (dense parameters, reader positions, RNG
// state), saved and checksummed with the tables.
using Extras = std::map<std::string, std::vector<std::byte>>;

struct SaveOptions {
  std::filesystem::path root;  // the checkpoint lands in root/ckpt-<step>
  int64_t step = 0;            // at least 0
  // Checkpoints of the saving run's lineage kept after this one is saved,
  // this one included (0 keeps all).
  int keep_last = 3;
  // The config that produced the checkpoint, stored verbatim.
  std::string config{};
  // The saving run, whose lineage keep_last counts (see CheckpointHistory;
  // the caller records each save in it). Without one, the lineage is every
  // checkpoint at or before `step`: later steps are never removed.
  const CheckpointHistory* history = nullptr;
  // Store each table's settings (table_settings), which a restore checks.
  // Off for tables whose settings are not the user's (an import).
  bool record_settings = true;
};

// Collective for a sharded collection: every rank calls it. Ranks exchange rows so that each writes
// one contiguous block of every table, then rank 0 writes the manifest and
// `extras` (its own; other ranks' are ignored) and renames the directory
// into place. Any rank's failure (an IoError from the file system) is
// thrown on every rank. Returns the checkpoint's directory.
// One call for a whole collection, sharded or not (TorchRec's state_dict):
//   checkpoint::save(collection, {.root = "ckpt", .step = 500});
std::filesystem::path save(EmbeddingCollection& collection, const SaveOptions& options,
                           const Extras& extras = {},
                           FileSystem& file_system = local_file_system());

}  // namespace rowshard::checkpoint
