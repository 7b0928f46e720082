// The held-out set of tab-separated data: the first `examples` valid lines
// of the eval files, the same examples at any number of ranks.
//
// Every rank reads the same prefix of the files (in order, malformed lines
// left out as options.on_malformed says) and keeps its share: of the n
// examples found (n <= examples, fewer when the files run out), rank r of W
// takes [n * r / W, n * (r + 1) / W), as synthetic_held_out does. So the
// union over the ranks, and the metrics computed on it, do not depend on
// the number of ranks.
#pragma once

#include <cstdint>

#include "training/data/example_batch.h"
#include "training/data/tsv_reader.h"

namespace rowshard {

struct TsvHeldOut {
  ExampleBatch batch;         // this rank's share
  int64_t examples = 0;       // n, all ranks' shares together
  int64_t skipped_lines = 0;  // malformed lines before the n-th example
};

// Reads options.files with options.layout, rows_per_feature and
// on_malformed; options.rank and world_size pick the share (batch_size and
// loop are not used). Only rank 0 prints warnings for skipped lines, which
// every rank meets alike. Throws as TsvReader does.
TsvHeldOut tsv_held_out(TsvReaderOptions options, int64_t examples);

}  // namespace rowshard
