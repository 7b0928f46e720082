// MANIFEST.json: what a checkpoint holds (docs/checkpoint-format.md).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rowshard/engine/dtype.h"

namespace rowshard::checkpoint {

struct FileEntry {
  std::string kind;  // "weight" | "state"
  std::string path;  // relative to the checkpoint directory
  int64_t first_row = 0;
  int64_t end_row = 0;
  int64_t bytes = 0;
  uint64_t checksum = 0;
};

struct TableEntry {
  std::string name;
  int64_t rows = 0;
  int64_t dim = 0;
  DType dtype = DType::f32;
  std::string optimizer;  // "sgd" | "adagrad" | "rowwise_adagrad"
  int64_t state_columns = 0;
  // What changes the table's future results beyond its values: the steps
  // it has taken (they seed stochastic rounding) and its settings by name
  // (see table_settings), compared on restore. Empty in format version 1.
  uint64_t steps_taken = 0;
  std::vector<std::pair<std::string, std::string>> settings;
  std::vector<FileEntry> files;
};

struct ExtraEntry {
  std::string name;
  std::string path;
  int64_t bytes = 0;
  uint64_t checksum = 0;
};

struct Manifest {
  int64_t step = 0;
  int64_t world_size = 1;
  std::vector<TableEntry> tables;
  std::vector<ExtraEntry> extras;
  std::string config;
};

std::string encode_manifest(const Manifest& manifest);

// Parses and checks a manifest: every key present with the right type, names
// that are safe directory names, paths that stay inside the checkpoint, each
// table's weight files (and state files) covering [0, rows) exactly once in
// order, byte counts that match the shapes. Throws CorruptData naming
// `file_name` and the field.
Manifest parse_manifest(std::string_view text, std::string_view file_name);

// Whether `name` can name a table or an extra: [A-Za-z0-9_.-]+, not "." or "..".
bool is_safe_name(std::string_view name);

}  // namespace rowshard::checkpoint
