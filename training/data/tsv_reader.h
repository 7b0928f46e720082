// TsvReader: batches of examples from tab-separated click logs (the Criteo
// layout, or any layout the config describes; see tsv_layout.h for how a
// line becomes an example).
//
// Files. The files are read in order, as one stream of lines; a line ends
// with '\n' (or "\r\n"; the '\r' is dropped), and the last line of a file
// may lack it.
//
// Ranks. Each rank takes its own lines: rank r takes the lines whose global
// index i (counting from 0 over all files in order, in each epoch) has
// i % world_size == r. A malformed line still counts as a line here, so
// which rank owns a line never depends on the contents of other lines. The
// assignment is deterministic and resumable from a position alone; the price
// is that every rank scans every byte for line ends, which is cheap next to
// parsing the lines it takes.
//
// Batches. next() returns batches of exactly batch_size examples; without
// `loop`, the last one may be smaller. With `loop`, the stream starts again at
// the first file after the last (the next epoch), and a batch may span the two
// epochs; files that give this rank no example in a whole epoch are then an
// error (InvalidArgument from next()) rather than an endless search. The
// same files and options give the same batches.
//
// Read-ahead. A reader thread reads and parses up to kReadAheadBatches
// batches ahead of next(), so training does not wait on parsing. Errors of
// that thread (a file that cannot be read, a malformed line under
// OnMalformed::fail) are thrown by the next() that reaches them.
//
// Malformed lines. Under OnMalformed::skip a malformed line is left out,
// counted, and reported on stderr ("warning: file 'day_0.tsv', line 17:
// column 3 '12a' is not a number; line skipped") by the next() whose batch
// it would have been in; after kMaxWarnings such reports only the count
// goes on, and the destructor prints how many were not shown. Each line is
// counted and reported once: with `loop`, the same line met in later epochs
// is skipped silently. Under OnMalformed::fail next() throws CorruptData
// with the same text.
//
// Positions. position() is five integers joined by ':',
//   epoch:file:offset:file_line:line
// which say where reading goes on for the next batch (just after the last
// line of the previous one): in epoch `epoch` (from 0), in
// options.files[file], at byte `offset`, the start of a line with
// `file_line` lines before it in that file and `line` lines before it in the
// epoch (its global index, which decides its rank). file == files.size()
// means the end of the data.
//
// A TsvReader is used from one thread (its reader thread is its own
// business).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "training/data/example_batch.h"
#include "training/data/tsv_layout.h"

namespace rowshard {

struct TsvReaderOptions {
  std::vector<std::string> files;
  TsvLayout layout;
  // One table size per categorical column, in layout order.
  std::vector<int64_t> rows_per_feature;
  int64_t batch_size = 0;
  int rank = 0;
  int world_size = 1;
  enum class OnMalformed { skip, fail };
  OnMalformed on_malformed = OnMalformed::skip;
  // Start again at the first file after the last (epochs), forever.
  bool loop = false;
  // false: skipped lines are only counted, for a reader whose lines another
  // reader (on another rank) reports.
  bool print_warnings = true;
};

class TsvReader : public BatchSource {
 public:
  static constexpr int kReadAheadBatches = 4;
  static constexpr int64_t kMaxWarnings = 20;

  // Checks the options (InvalidArgument naming the option) and that every
  // file can be opened (IoError naming it), then starts reading at the
  // beginning of the first file.
  explicit TsvReader(TsvReaderOptions options);
  // Stops the reader thread; prints how many skipped lines were not reported.
  ~TsvReader() override;
  TsvReader(const TsvReader&) = delete;
  TsvReader& operator=(const TsvReader&) = delete;

  std::optional<ExampleBatch> next() override;
  std::string position() const override;
  // Stops the reader thread and starts one at `position`. Throws
  // InvalidArgument, and leaves the reader as it was, for a string that is
  // not five ':'-separated counts, a file index past the end, or an offset
  // that is not the start of a line of that file.
  void seek(const std::string& position) override;

  // How many malformed lines were skipped in making the batches next() has
  // returned, each line once from where reading began (construction or the
  // last seek(); the count goes on across seek(), so lines read again after a
  // seek back count again).
  int64_t skipped_lines() const override { return skipped_lines_; }

 private:
  class ReadAhead;

  TsvReaderOptions options_;
  TsvLineParser parser_;
  std::string position_;
  int64_t skipped_lines_ = 0;
  int64_t warnings_printed_ = 0;
  std::unique_ptr<ReadAhead> read_ahead_;
};

}  // namespace rowshard
