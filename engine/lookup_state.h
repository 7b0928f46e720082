// The base of what each collection keeps from a forward for its step().
// Internal: a CollectionLookup's state is opaque to users.
#pragma once

namespace rowshard {
class EmbeddingCollection;
}

namespace rowshard::detail {

struct LookupState {
  virtual ~LookupState() = default;
  // The collection whose forward made it; step() refuses any other's.
  const EmbeddingCollection* collection = nullptr;
};

}  // namespace rowshard::detail
