// Pretrained tables straight from a file, through a memory map: a 50 GB
// table is not copied into RAM first. Three formats are recognised by their
// first bytes:
//   - a rowshard shard file (a whole table: first_row 0),
//   - a .npy array, float32 or float16, 2-D, C order,
//   - a tensor of a safetensors file (F32, F16 or BF16, 2-D).
//
// Frozen tables are served read-only from the page cache: no copy at all.
// Trainable ones are mapped copy-on-write, so a page is copied only when a
// step first writes one of its rows.
#pragma once

#include <optional>
#include <string>

#include "rowshard/engine/embedding.h"
#include "rowshard/engine/embedding_bag.h"
#include "rowshard/engine/embedding_collection.h"

namespace rowshard {

struct PretrainedFile {
  std::string path{};
  // Which tensor of a safetensors file; may be omitted when it holds one.
  std::optional<std::string> tensor{};
  // Also check a rowshard shard file's data checksum. Headers are always
  // checked; the checksum reads the whole file, which is what mapping it
  // is meant to avoid, so it is asked for, not assumed.
  bool verify_checksum = false;
};

// The file's table as storage over the mapping (which it keeps alive).
// `writable` maps copy-on-write. Throws IoError, CorruptData (naming the
// file and the field) or InvalidArgument (a valid file this cannot use:
// Fortran order, a dtype that is not a float, a missing tensor, not 2-D).
RowStorage map_pretrained(const PretrainedFile& file, bool writable);

// nn.EmbeddingBag.from_pretrained / nn.Embedding.from_pretrained over a file.
EmbeddingBag embedding_bag_from_file(const PretrainedFile& file, EmbeddingBagOptions options,
                                     bool freeze = true);
Embedding embedding_from_file(const PretrainedFile& file, EmbeddingOptions options,
                              bool freeze = true);

// Replaces table t of a collection, sharded or not, with the file's table,
// which must have its shape. Each rank reads (and so pages in) only the
// rows and columns it holds, converted to the table's dtype. A frozen table
// takes no steps. Not collective, but every rank must load the same tables
// alike. Throws as map_pretrained does, and InvalidArgument for a shape
// that is not the table's (naming both).
void load_pretrained(EmbeddingCollection& collection, int64_t t, const PretrainedFile& file,
                     bool freeze = false);

}  // namespace rowshard
