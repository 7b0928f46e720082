#include "rowshard/io/checkpoint/save.h"

#include <algorithm>
#include <cstring>
#include <sstream>

#include "io/checkpoint/checkpoint_tables.h"
#include "io/checkpoint/shard_file.h"
#include "io/checksum.h"
#include "rowshard/engine/element_types.h"
#include "rowshard/engine/error.h"
#include "rowshard/io/checkpoint/directory.h"
#include "rowshard/io/checkpoint/manifest.h"
#include "rowshard/sharding/collectives.h"
#include "sharding/input_agreement.h"

namespace rowshard::checkpoint {
namespace {

// Rows [first, end) of one table, ready for writing: whole rows of weights
// (in the table's dtype) and of optimizer state (f32). The bytes are the
// shard's own memory when the rank already holds exactly its block, or the
// gathered copies otherwise.
struct Block {
  int64_t first = 0;
  int64_t end = 0;
  std::span<const std::byte> weights;
  std::span<const std::byte> state;
  std::vector<std::byte> gathered_weights;
  std::vector<std::byte> gathered_state;
};

int64_t block_rows(int64_t rows, int ranks) { return (rows + ranks - 1) / ranks; }

// Sends every piece of table t this rank holds to the rank whose block it
// falls in, and assembles this rank's block. A piece is one row's columns
// [first_column, first_column + width) and its state.
Block gather_block(CheckpointTables& tables, int64_t t) {
  Communicator& comm = tables.communicator();
  const int ranks = comm.size(), me = comm.rank();
  const ShardLayout& layout = tables.layout(t);
  const EmbeddingBag& shard = tables.shard(t);
  RowOptimizer& optimizer = tables.optimizer(t);
  // Contiguous row-wise blocks are the file blocks: write the shard itself.
  if (ranks == 1 ||
      (layout.kind() == ShardingKind::row_wise && layout.placement() == RowPlacement::contiguous)) {
    Block block;
    block.first = layout.global_row(me, 0);
    block.end = block.first + shard.num_embeddings();
    block.weights = {shard.weights().bytes(), shard.weights().size_bytes()};
    block.state = std::as_bytes(optimizer.state());
    return block;
  }
  const int64_t dim = layout.dim(), rows = layout.num_rows();
  const int64_t per_block = std::max<int64_t>(1, block_rows(rows, ranks));
  const auto element = static_cast<int64_t>(dtype_size(shard.weights().dtype()));
  const int64_t width = shard.embedding_dim();
  const int64_t first_column = layout.first_column(me);
  const OptimizerKind kind = tables.config(t).optimizer.kind;
  const int64_t my_state_columns = state_columns(kind, width);
  const int64_t full_state_columns = state_columns(kind, dim);
  // Row-wise state is the same on every column shard: the first one sends it.
  const bool sends_state =
      my_state_columns > 0 && (kind != OptimizerKind::rowwise_adagrad || first_column == 0);

  std::vector<std::vector<int64_t>> pieces(ranks);
  std::vector<std::vector<std::byte>> payload(ranks);
  const std::span<const float> state = optimizer.state();
  for (int64_t local = 0; local < shard.num_embeddings(); ++local) {
    const int64_t row = layout.global_row(me, local);
    const int owner = static_cast<int>(row / per_block);
    // A replica sends only its own block: every rank holds the same rows.
    if (layout.kind() == ShardingKind::data_parallel && owner != me) continue;
    pieces[owner].insert(pieces[owner].end(), {row, first_column, width, sends_state ? 1 : 0});
    const std::byte* weights = shard.weights().bytes() + local * width * element;
    payload[owner].insert(payload[owner].end(), weights, weights + width * element);
    if (sends_state) {
      const auto* values = reinterpret_cast<const std::byte*>(&state[local * my_state_columns]);
      payload[owner].insert(payload[owner].end(), values, values + my_state_columns * 4);
    }
  }
  auto flatten = [&](auto& parts, auto& flat, std::vector<int64_t>& counts) {
    for (const auto& part : parts) {
      flat.insert(flat.end(), part.begin(), part.end());
      counts.push_back(static_cast<int64_t>(part.size()));
    }
  };
  std::vector<int64_t> flat_pieces, piece_counts, byte_counts;
  std::vector<std::byte> flat_payload;
  flatten(pieces, flat_pieces, piece_counts);
  flatten(payload, flat_payload, byte_counts);
  const ReceivedArrays<int64_t> got_pieces = exchange<int64_t>(comm, flat_pieces, piece_counts);
  const ReceivedArrays<std::byte> got_payload =
      exchange<std::byte>(comm, flat_payload, byte_counts);

  Block block;
  block.first = std::min(rows, me * per_block);
  block.end = std::min(rows, (me + 1) * per_block);
  block.gathered_weights.resize((block.end - block.first) * dim * element);
  block.gathered_state.resize((block.end - block.first) * full_state_columns * 4);
  for (int s = 0; s < ranks; ++s) {
    const std::span<const int64_t> list = got_pieces.from(s);
    const std::byte* data = got_payload.from(s).data();
    for (std::size_t i = 0; i < list.size(); i += 4) {
      const int64_t row = list[i], column = list[i + 1], columns = list[i + 2];
      const int64_t at = row - block.first;
      std::memcpy(&block.gathered_weights[(at * dim + column) * element], data, columns * element);
      data += columns * element;
      if (list[i + 3]) {
        const int64_t state_width = full_state_columns == 1 ? 1 : columns;
        const int64_t state_column = full_state_columns == 1 ? 0 : column;
        std::memcpy(&block.gathered_state[(at * full_state_columns + state_column) * 4], data,
                    state_width * 4);
        data += state_width * 4;
      }
    }
  }
  block.weights = block.gathered_weights;
  block.state = block.gathered_state;
  return block;
}

FileEntry write_shard(FileSystem& file_system, const std::filesystem::path& directory,
                      const std::string& table, const std::string& kind, int64_t first, int64_t end,
                      int64_t columns, DType dtype, std::span<const std::byte> data) {
  ShardHeader header{dtype, end - first, columns, first, xxh3(data)};
  const std::vector<std::byte> header_bytes = encode_shard_header(header);
  FileEntry entry{
      kind, message(table, "/", kind, ".", first, "-", end, ".bin"), first,
      end,  static_cast<int64_t>(header_bytes.size() + data.size()), header.data_checksum};
  const std::span<const std::byte> parts[] = {header_bytes, data};
  file_system.write_file(directory / entry.path, parts);
  return entry;
}

// A FileEntry as one line of text, for gathering on rank 0.
std::string describe(const FileEntry& file) {
  return message(file.kind, ' ', file.path, ' ', file.first_row, ' ', file.end_row, ' ', file.bytes,
                 ' ', file.checksum, '\n');
}

std::vector<FileEntry> parse_descriptions(const std::string& text) {
  std::vector<FileEntry> files;
  std::istringstream in(text);
  FileEntry file;
  while (in >> file.kind >> file.path >> file.first_row >> file.end_row >> file.bytes >>
         file.checksum)
    files.push_back(file);
  return files;
}

// Renames the finished `directory` to `final_directory`. A checkpoint
// already there (a run rolled back to an earlier step reaches it again) is
// swapped out in one atomic exchange, then removed from its temporary name;
// a crash in between leaves a complete checkpoint under the final name and
// the old one under a .tmp name, which the next save removes.
void move_into_place(FileSystem& file_system, const std::filesystem::path& directory,
                     const std::filesystem::path& final_directory) {
  const std::filesystem::path root = final_directory.parent_path();
  if (!std::filesystem::exists(final_directory)) {
    file_system.rename(directory, final_directory);
    file_system.sync_directory(root);
    return;
  }
  file_system.exchange(directory, final_directory);
  file_system.sync_directory(root);
  file_system.remove_all(directory);
}

void remove_beyond_keep_last(FileSystem& file_system, const SaveOptions& options) {
  if (options.keep_last <= 0) return;
  const CheckpointHistory everything_before(options.root / checkpoint_name(options.step),
                                            options.step);
  const CheckpointHistory& history = options.history ? *options.history : everything_before;
  const std::vector<std::filesystem::path> lineage = history.lineage(options.root, options.step);
  for (std::size_t i = static_cast<std::size_t>(options.keep_last); i < lineage.size(); ++i)
    file_system.remove_all(lineage[i]);
}

}  // namespace

std::filesystem::path save(EmbeddingCollection& collection, const SaveOptions& options,
                           const Extras& extras, FileSystem& file_system) {
  CheckpointTables tables(collection);
  Communicator& comm = tables.communicator();
  CollectivePhase phase(comm, Phase::checkpoint_save);
  const bool leader = comm.rank() == 0;
  const std::filesystem::path final_directory = options.root / checkpoint_name(options.step);
  const std::filesystem::path directory = options.root / (checkpoint_name(options.step) + ".tmp");

  agree_on_input(comm, [&] {
    if (options.step < 0)
      throw InvalidArgument(message("checkpoint: step ", options.step, " is negative"));
    for (int64_t t = 0; t < tables.num_tables(); ++t)
      if (!is_safe_name(tables.config(t).table.name))
        throw InvalidArgument(message("checkpoint: table name '", tables.config(t).table.name,
                                      "' cannot name a directory (use [A-Za-z0-9_.-])"));
    for (const auto& [name, bytes] : extras)
      if (!is_safe_name(name))
        throw InvalidArgument(
            message("checkpoint: extra name '", name, "' cannot name a file (use [A-Za-z0-9_.-])"));
    if (!leader) return;
    // Stale .tmp directories are what a crashed save leaves; none is complete.
    std::error_code ignored;
    for (const auto& entry : std::filesystem::directory_iterator(options.root, ignored))
      if (entry.path().extension() == ".tmp") file_system.remove_all(entry.path());
    file_system.create_directories(directory / "extras");
    for (int64_t t = 0; t < tables.num_tables(); ++t)
      file_system.create_directories(directory / tables.config(t).table.name);
  });

  // Every rank writes one block of every table.
  std::string written;
  for (int64_t t = 0; t < tables.num_tables(); ++t) {
    const Block block = gather_block(tables, t);
    agree_on_input(comm, [&] {
      if (block.end <= block.first) return;
      const std::string& name = tables.config(t).table.name;
      const DType dtype = tables.shard(t).weights().dtype();
      written += describe(write_shard(file_system, directory, name, "weight", block.first,
                                      block.end, tables.layout(t).dim(), dtype, block.weights));
      if (!block.state.empty()) {
        const int64_t columns =
            static_cast<int64_t>(block.state.size()) / 4 / (block.end - block.first);
        written += describe(write_shard(file_system, directory, name, "state", block.first,
                                        block.end, columns, DType::f32, block.state));
      }
    });
  }
  const std::vector<std::string> everyone = allgather_text(comm, written);

  agree_on_input(comm, [&] {
    if (!leader) return;
    Manifest manifest;
    manifest.step = options.step;
    manifest.world_size = comm.size();
    manifest.config = options.config;
    std::vector<FileEntry> files;
    for (const std::string& text : everyone)
      for (FileEntry& file : parse_descriptions(text)) files.push_back(std::move(file));
    std::sort(files.begin(), files.end(),
              [](const FileEntry& a, const FileEntry& b) { return a.first_row < b.first_row; });
    for (int64_t t = 0; t < tables.num_tables(); ++t) {
      TableEntry table;
      const CollectionTableConfig& config = tables.config(t);
      table.name = config.table.name;
      table.rows = config.table.num_embeddings;
      table.dim = config.table.embedding_dim;
      table.dtype = config.table.dtype;
      table.optimizer = std::string(optimizer_kind_name(config.optimizer.kind));
      table.state_columns = state_columns(config.optimizer.kind, table.dim);
      table.steps_taken = tables.shard(t).steps_taken();
      if (options.record_settings) table.settings = table_settings(config);
      for (const FileEntry& file : files)
        if (file.path.starts_with(table.name + "/")) table.files.push_back(file);
      manifest.tables.push_back(std::move(table));
    }
    for (const auto& [name, bytes] : extras) {
      const ExtraEntry extra{name, "extras/" + name + ".bin", static_cast<int64_t>(bytes.size()),
                             xxh3(bytes)};
      const std::span<const std::byte> parts[] = {bytes};
      file_system.write_file(directory / extra.path, parts);
      manifest.extras.push_back(extra);
    }
    const std::string text = encode_manifest(manifest);
    const std::span<const std::byte> parts[] = {std::as_bytes(std::span(text))};
    file_system.write_file(directory / "MANIFEST.json", parts);
    file_system.sync_directory(directory);
    move_into_place(file_system, directory, final_directory);
    // Only now, with the new checkpoint durable, may old ones go.
    remove_beyond_keep_last(file_system, options);
  });
  return final_directory;
}

}  // namespace rowshard::checkpoint
