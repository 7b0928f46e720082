#include "rowshard/io/pretrained.h"

#include <cstring>

#include "engine/collection_loader.h"
#include "io/checkpoint/shard_file.h"
#include "io/mapped_file.h"
#include "rowshard/engine/element_types.h"
#include "rowshard/engine/error.h"
#include "rowshard/io/npy/npy_format.h"
#include "rowshard/io/safetensors/safetensors_format.h"

namespace rowshard {
namespace {

RowStorage over(std::shared_ptr<MappedFile> map, std::size_t offset, int64_t rows, int64_t dim,
                DType dtype, bool writable) {
  const void* data = map->bytes().data() + offset;
  return RowStorage::borrow(std::move(map), data, rows, dim, dtype, writable);
}

void require_2d(const Shape& shape, const std::string& path) {
  if (shape.size() != 2)
    throw InvalidArgument(message("pretrained table '", path, "' has ", shape.size(),
                                  " dimensions; a table is [rows, dim]"));
}

RowStorage from_shard_file(std::shared_ptr<MappedFile> map, bool verify, bool writable) {
  const checkpoint::ShardHeader header =
      checkpoint::parse_shard_header(map->bytes(), map->size(), map->path());
  if (header.first_row != 0)
    throw InvalidArgument(message("pretrained table '", map->path(), "' starts at row ",
                                  header.first_row, "; a whole table starts at row 0"));
  if (verify)
    checkpoint::verify_shard_data(header, map->bytes().subspan(checkpoint::kShardHeaderBytes),
                                  map->path());
  return over(std::move(map), checkpoint::kShardHeaderBytes, header.rows, header.columns,
              header.dtype, writable);
}

RowStorage from_npy(std::shared_ptr<MappedFile> map, bool writable) {
  const npy::Header header = npy::parse_header(map->bytes(), map->size(), map->path());
  require_2d(header.shape, map->path());
  const std::optional<DType> dtype = npy::table_dtype(header.type);
  if (!dtype)
    throw InvalidArgument(message("pretrained table '", map->path(), "' holds ",
                                  npy::descr_of(header.type),
                                  "; a table is float32 ('<f4') or float16 ('<f2')"));
  return over(std::move(map), header.data_offset, header.shape[0], header.shape[1], *dtype,
              writable);
}

RowStorage from_safetensors(std::shared_ptr<MappedFile> map,
                            const std::optional<std::string>& tensor, bool writable) {
  const safetensors::Header header =
      safetensors::parse_header(map->bytes(), map->size(), map->path());
  const safetensors::TensorEntry* entry = nullptr;
  std::string names;
  for (const auto& candidate : header.tensors) {
    names += message(names.empty() ? "" : ", ", "'", candidate.name, "'");
    if (tensor ? candidate.name == *tensor : header.tensors.size() == 1) entry = &candidate;
  }
  if (entry == nullptr)
    throw InvalidArgument(message("safetensors file '", map->path(),
                                  "': ", tensor ? "no tensor '" + *tensor + "'" : "which tensor?",
                                  " (it holds ", names, ")"));
  require_2d(entry->shape, map->path() + ":" + entry->name);
  const std::optional<DType> dtype = safetensors::table_dtype(entry->type);
  if (!dtype)
    throw InvalidArgument(message("safetensors tensor '", entry->name, "' in '", map->path(),
                                  "' is ", safetensors::dtype_name(entry->type),
                                  "; a table is F32, F16 or BF16"));
  return over(std::move(map), entry->data_begin, entry->shape[0], entry->shape[1], *dtype,
              writable);
}

}  // namespace

RowStorage map_pretrained(const PretrainedFile& file, bool writable) {
  auto map = MappedFile::open(
      file.path, writable ? MappedFile::Access::copy_on_write : MappedFile::Access::read_only);
  const std::span<const std::byte> bytes = map->bytes();
  auto starts_with = [&](std::string_view magic) {
    return bytes.size() >= magic.size() &&
           std::memcmp(bytes.data(), magic.data(), magic.size()) == 0;
  };
  if (starts_with("RSHDSHRD"))
    return from_shard_file(std::move(map), file.verify_checksum, writable);
  if (starts_with("\x93NUMPY")) return from_npy(std::move(map), writable);
  return from_safetensors(std::move(map), file.tensor, writable);
}

EmbeddingBag embedding_bag_from_file(const PretrainedFile& file, EmbeddingBagOptions options,
                                     bool freeze) {
  return EmbeddingBag::from_pretrained(map_pretrained(file, !freeze), std::move(options), freeze);
}

Embedding embedding_from_file(const PretrainedFile& file, EmbeddingOptions options, bool freeze) {
  return Embedding::from_pretrained(map_pretrained(file, !freeze), std::move(options), freeze);
}

void load_pretrained(EmbeddingCollection& collection, int64_t t, const PretrainedFile& file,
                     bool freeze) {
  RowStorage weights = map_pretrained(file, /*writable=*/false);
  const EmbeddingBagOptions& table = collection.table_config(t).table;
  if (weights.num_rows() != table.num_embeddings || weights.dim() != table.embedding_dim)
    throw InvalidArgument(message(collection.kind(), ": table '", table.name, "' is [",
                                  table.num_embeddings, ", ", table.embedding_dim, "] but ",
                                  file.path, " holds [", weights.num_rows(), ", ", weights.dim(),
                                  "]"));
  const auto read_row = [&weights](int64_t row, int64_t first_column, std::span<float> out) {
    visit_element_type(weights.dtype(), [&]<typename Element>(Element) {
      const Element* values = weights.row<Element>(row) + first_column;
      for (std::size_t c = 0; c < out.size(); ++c) out[c] = to_float(values[c]);
    });
  };
  detail::CollectionLoader::load(collection, t, read_row, freeze);
}

}  // namespace rowshard
