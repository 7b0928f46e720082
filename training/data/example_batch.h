// The training job's input: batches of examples, and the interface of the
// sources they come from (click logs, synthetic data).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace rowshard {

// A batch of examples on one rank. The sparse part is in the layout of
// KeyedJaggedBatch (engine/keyed_jagged_batch.h), by lengths, so it can be
// handed to an EmbeddingBagCollection as spans over these vectors.
struct ExampleBatch {
  int64_t size = 0;
  // [size]: the click labels, 0 or 1.
  std::vector<float> labels;
  // [size, num_dense], row-major: example b's dense features at b * num_dense.
  std::vector<float> dense;
  // Every id, feature-major: feature 0's (example 0's, then example 1's, ...),
  // then feature 1's, ...
  std::vector<int64_t> sparse_values;
  // [num_features * size]: sparse_lengths[f * size + b] = how many ids
  // example b has for feature f (0 for a missing value: an empty bag, which
  // the embedding bag pools to zeros).
  std::vector<int64_t> sparse_lengths;
};

// Where examples come from. A source is read by one thread; position() and
// seek() let a checkpoint resume the stream exactly: after seek(p), next()
// returns the batches that followed position p when it was taken.
class BatchSource {
 public:
  virtual ~BatchSource() = default;

  // The next batch, or nullopt once the data is exhausted (and from then
  // on). Throws the Error that stopped the source (an unreadable file, a
  // malformed line the source may not skip), and keeps throwing it.
  virtual std::optional<ExampleBatch> next() = 0;

  // Where the batch next() would return starts, as an opaque string to store
  // in a checkpoint.
  virtual std::string position() const = 0;

  // Continues the stream at `position`, a string position() returned for the
  // same data and options. Throws InvalidArgument for a string that is not
  // such a position.
  virtual void seek(const std::string& position) = 0;

  // How many malformed input lines the source has left out so far, each line
  // once (0 for a source that makes its examples rather than reading them).
  virtual int64_t skipped_lines() const { return 0; }

  // True for a source whose next() never returns nullopt, on any rank (one
  // that makes its examples): the ranks then need not agree, every step,
  // on whether the data has ended.
  virtual bool endless() const { return false; }
};

}  // namespace rowshard
