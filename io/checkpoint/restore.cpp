#include "rowshard/io/checkpoint/restore.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>

#include "io/checkpoint/checkpoint_tables.h"
#include "io/checkpoint/shard_file.h"
#include "io/checksum.h"
#include "io/mapped_file.h"
#include "rowshard/engine/element_types.h"
#include "rowshard/engine/error.h"
#include "rowshard/io/checkpoint/manifest.h"
#include "sharding/input_agreement.h"

namespace rowshard::checkpoint {
namespace {

// A shard file mapped and checked against its manifest entry.
struct OpenShard {
  std::shared_ptr<MappedFile> map;
  ShardHeader header;
  std::span<const std::byte> data;
};

OpenShard open_shard(const std::filesystem::path& directory, const FileEntry& entry,
                     int64_t columns, DType dtype, bool verify) {
  const std::string path = (directory / entry.path).string();
  if (!std::filesystem::is_regular_file(path))
    throw CorruptData(message("checkpoint shard '", path, "' is missing"));
  OpenShard shard;
  shard.map = MappedFile::open(path);
  const std::span<const std::byte> bytes = shard.map->bytes();
  shard.header = parse_shard_header(bytes, bytes.size(), path);
  auto mismatch = [&](std::string_view field, int64_t in_file, int64_t in_manifest) {
    throw CorruptData(message("checkpoint shard '", path, "': ", field, " ", in_file,
                              " disagrees with the manifest's ", in_manifest));
  };
  if (shard.header.first_row != entry.first_row)
    mismatch("first_row", shard.header.first_row, entry.first_row);
  if (shard.header.rows != entry.end_row - entry.first_row)
    mismatch("rows", shard.header.rows, entry.end_row - entry.first_row);
  if (shard.header.columns != columns) mismatch("columns", shard.header.columns, columns);
  if (shard.header.dtype != dtype)
    mismatch("dtype", static_cast<int64_t>(shard.header.dtype), static_cast<int64_t>(dtype));
  if (static_cast<int64_t>(bytes.size()) != entry.bytes)
    mismatch("size", static_cast<int64_t>(bytes.size()), entry.bytes);
  if (shard.header.data_checksum != entry.checksum)
    throw CorruptData(
        message("checkpoint shard '", path, "': data_checksum disagrees with the manifest"));
  shard.data = bytes.subspan(kShardHeaderBytes);
  if (verify) verify_shard_data(shard.header, shard.data, path);
  return shard;
}

void check_matches(const TableEntry& saved, const CollectionTableConfig& config) {
  const EmbeddingBagOptions& table = config.table;
  auto refuse = [&](std::string_view field, const auto& in_checkpoint, const auto& configured) {
    throw InvalidArgument(message("checkpoint table '", saved.name, "': ", field, " is ",
                                  in_checkpoint, " in the checkpoint but ", configured,
                                  " in the collection"));
  };
  if (saved.rows != table.num_embeddings) refuse("rows", saved.rows, table.num_embeddings);
  if (saved.dim != table.embedding_dim) refuse("dim", saved.dim, table.embedding_dim);
  if (saved.dtype != table.dtype) refuse("dtype", dtype_name(saved.dtype), dtype_name(table.dtype));
  if (saved.optimizer != optimizer_kind_name(config.optimizer.kind))
    refuse("optimizer", saved.optimizer, optimizer_kind_name(config.optimizer.kind));
  const auto configured = table_settings(config);
  for (const auto& [name, value] : saved.settings) {
    const auto now = std::find_if(configured.begin(), configured.end(),
                                  [&](const auto& setting) { return setting.first == name; });
    if (now == configured.end()) refuse(name, value, "not a setting");
    if (now->second != value) refuse(name, value, now->second);
  }
}

// The files of `kind` of a table, and the index of the one holding `row`.
struct Coverage {
  std::vector<const FileEntry*> files;
  std::size_t holding(int64_t row) const {
    const auto at =
        std::upper_bound(files.begin(), files.end(), row,
                         [](int64_t r, const FileEntry* f) { return r < f->first_row; });
    return static_cast<std::size_t>(at - files.begin()) - 1;
  }
};

Coverage coverage(const TableEntry& table, std::string_view kind) {
  Coverage out;
  for (const FileEntry& file : table.files)
    if (file.kind == kind) out.files.push_back(&file);
  return out;
}

}  // namespace

Manifest read_manifest(const std::filesystem::path& directory) {
  const std::filesystem::path path = directory / "MANIFEST.json";
  std::ifstream in(path);
  if (!in)
    throw IoError(
        message("'", directory.string(), "' is not a complete checkpoint: no MANIFEST.json"));
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse_manifest(text, path.string());
}

void verify_file(const std::filesystem::path& directory, const TableEntry& table,
                 const FileEntry& file) {
  const bool weights = file.kind == "weight";
  open_shard(directory, file, weights ? table.dim : table.state_columns,
             weights ? table.dtype : DType::f32, /*verify=*/true);
}

std::vector<std::byte> read_whole(const std::filesystem::path& directory, const TableEntry& table,
                                  std::string_view kind, bool verify) {
  const bool weights = kind == "weight";
  const int64_t columns = weights ? table.dim : table.state_columns;
  const DType dtype = weights ? table.dtype : DType::f32;
  std::vector<std::byte> out;
  out.reserve(table.rows * columns * dtype_size(dtype));
  for (const FileEntry& file : table.files) {
    if (file.kind != kind) continue;
    const OpenShard shard = open_shard(directory, file, columns, dtype, verify);
    out.insert(out.end(), shard.data.begin(), shard.data.end());
  }
  return out;
}

Restored restore(EmbeddingCollection& collection, const std::filesystem::path& directory,
                 const RestoreOptions& options) {
  CheckpointTables tables(collection);
  Communicator& comm = tables.communicator();
  CollectivePhase phase(comm, Phase::checkpoint_restore);
  const int me = comm.rank();
  Manifest manifest;
  // Every file this rank needs, mapped and checked before anything is written.
  std::vector<std::vector<OpenShard>> weights(tables.num_tables()), states(tables.num_tables());
  std::vector<Coverage> weight_files(tables.num_tables()), state_files(tables.num_tables());
  Restored restored;
  std::vector<uint64_t> steps_taken(tables.num_tables());
  agree_on_input(comm, [&] {
    manifest = read_manifest(directory);
    for (int64_t t = 0; t < tables.num_tables(); ++t) {
      const CollectionTableConfig& config = tables.config(t);
      const auto saved =
          std::find_if(manifest.tables.begin(), manifest.tables.end(),
                       [&](const TableEntry& e) { return e.name == config.table.name; });
      if (saved == manifest.tables.end())
        throw InvalidArgument(message("checkpoint '", directory.string(), "' has no table '",
                                      config.table.name, "'"));
      check_matches(*saved, config);
      steps_taken[t] = saved->steps_taken;
      weight_files[t] = coverage(*saved, "weight");
      state_files[t] = coverage(*saved, "state");
      const ShardLayout& layout = tables.layout(t);
      const EmbeddingBag& shard = tables.shard(t);
      std::vector<bool> needed(weight_files[t].files.size(), false);
      for (int64_t local = 0; local < shard.num_embeddings(); ++local)
        needed[weight_files[t].holding(layout.global_row(me, local))] = true;
      weights[t].resize(needed.size());
      states[t].resize(state_files[t].files.size());
      for (std::size_t i = 0; i < needed.size(); ++i) {
        if (!needed[i]) continue;
        weights[t][i] = open_shard(directory, *weight_files[t].files[i], saved->dim, saved->dtype,
                                   options.verify_checksums);
        if (saved->state_columns > 0)
          states[t][i] = open_shard(directory, *state_files[t].files[i], saved->state_columns,
                                    DType::f32, options.verify_checksums);
      }
    }
    for (const ExtraEntry& extra : manifest.extras) {
      const std::string path = (directory / extra.path).string();
      const std::shared_ptr<MappedFile> map = MappedFile::open(path);
      if (static_cast<int64_t>(map->size()) != extra.bytes || xxh3(map->bytes()) != extra.checksum)
        throw CorruptData(message("checkpoint extra '", path,
                                  "': its size or checksum disagrees with the manifest"));
      restored.extras[extra.name].assign(map->bytes().begin(), map->bytes().end());
    }
  });

  // Everything checked: copy this rank's rows and columns out.
  for (int64_t t = 0; t < tables.num_tables(); ++t) {
    const ShardLayout& layout = tables.layout(t);
    EmbeddingBag& shard = tables.shard(t);
    RowOptimizer& optimizer = tables.optimizer(t);
    const int64_t dim = layout.dim(), width = shard.embedding_dim();
    const int64_t first_column = layout.first_column(me);
    const int64_t element = static_cast<int64_t>(dtype_size(shard.weights().dtype()));
    const int64_t full_state = state_columns(tables.config(t).optimizer.kind, dim);
    const int64_t my_state = state_columns(tables.config(t).optimizer.kind, width);
    const std::span<float> state = optimizer.state();
    std::byte* rows = shard.mutable_weights().mutable_bytes();
    shard.set_steps_taken(steps_taken[t]);
    for (int64_t local = 0; local < shard.num_embeddings(); ++local) {
      const int64_t row = layout.global_row(me, local);
      const std::size_t file = weight_files[t].holding(row);
      const OpenShard& weight = weights[t][file];
      const int64_t at = row - weight.header.first_row;
      std::memcpy(rows + local * width * element,
                  weight.data.data() + (at * dim + first_column) * element, width * element);
      if (my_state == 0) continue;
      const OpenShard& saved_state = states[t][file];
      const int64_t state_column = full_state == 1 ? 0 : first_column;
      std::memcpy(&state[local * my_state],
                  saved_state.data.data() + (at * full_state + state_column) * 4, my_state * 4);
    }
  }
  restored.step = manifest.step;
  restored.config = manifest.config;
  return restored;
}

}  // namespace rowshard::checkpoint
