// The loaders' access to a collection's tables: checkpoint restore and
// pretrained files (rowshard/io) replace weights and optimizer state that
// the public interface only shows read-only. Internal: not installed.
#pragma once

#include <cstdint>

#include "rowshard/engine/embedding_collection.h"

namespace rowshard::detail {

class CollectionLoader {
 public:
  using RowReader = EmbeddingCollection::RowReader;

  static EmbeddingBag& local_table(EmbeddingCollection& collection, int64_t t) {
    return collection.mutable_local_table(t);
  }
  static RowOptimizer& local_optimizer(EmbeddingCollection& collection, int64_t t) {
    return collection.mutable_local_optimizer(t);
  }
  // Replaces this process's part of table t with rows from `read_row`.
  static void load(EmbeddingCollection& collection, int64_t t, const RowReader& read_row,
                   bool freeze) {
    collection.load_local_table(t, read_row, freeze);
  }
};

}  // namespace rowshard::detail
