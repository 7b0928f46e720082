#include "training/data/tsv_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <stop_token>
#include <system_error>
#include <thread>

#include "rowshard/engine/error.h"

namespace rowshard {
namespace {

// The parts of a position (see tsv_reader.h).
struct Cursor {
  int64_t epoch = 0;
  int64_t file = 0;
  int64_t offset = 0;
  int64_t file_line = 0;
  int64_t line = 0;
};

[[noreturn]] void throw_io_error(const char* what, const std::string& path) {
  throw IoError(message("TsvReader: cannot ", what, " '", path,
                        "': ", std::system_category().message(errno)));
}

// An open file, closed by the destructor.
class File {
 public:
  explicit File(const std::string& path) : path_(path), fd_(::open(path.c_str(), O_RDONLY)) {
    if (fd_ < 0) throw_io_error("open", path);
    struct stat status {};
    if (::fstat(fd_, &status) != 0) {
      ::close(fd_);
      throw_io_error("stat", path);
    }
    size_ = status.st_size;
  }
  ~File() { ::close(fd_); }
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  int64_t size() const { return size_; }

  // Reads up to `count` bytes at `offset`; fewer only at the end of the file.
  std::size_t read(char* into, std::size_t count, int64_t offset) const {
    std::size_t done = 0;
    while (done < count) {
      const ssize_t got = ::pread(fd_, into + done, count - done, offset + done);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) throw_io_error("read", path_);
      if (got == 0) break;
      done += got;
    }
    return done;
  }

 private:
  std::string path_;
  int fd_;
  int64_t size_ = 0;
};

// One line as read, with where it was.
struct Line {
  std::string_view text;  // without its line ending
  int64_t epoch = 0;
  int64_t file = 0;
  int64_t file_line = 0;  // lines before it in its file
  int64_t index = 0;      // lines before it in the epoch
};

// The lines of the files in order, from a cursor. The cursor names the
// start of the next line. It moves to the next file as soon as a file's last
// line is read, so that a place in the stream has one position (the start of
// the next file, never the end of the one just read).
class LineSource {
 public:
  LineSource(const std::vector<std::string>& files, const Cursor& start)
      : files_(files), cursor_(start), buffer_(kInitialBuffer) {}

  // The next line, or nullopt after the last line of the last file. The
  // text is valid until the next call.
  std::optional<Line> next() {
    while (cursor_.file < static_cast<int64_t>(files_.size())) {
      if (!file_) {
        file_.emplace(files_[cursor_.file]);
        if (cursor_.offset > file_->size())
          throw IoError(message("TsvReader: '", files_[cursor_.file], "' has ", file_->size(),
                                " bytes, fewer than the position's offset ", cursor_.offset));
        begin_ = end_ = 0;
      }
      if (cursor_.offset == file_->size()) {
        next_file();
        continue;
      }
      return take_line();
    }
    return std::nullopt;
  }

  const Cursor& cursor() const { return cursor_; }

  // The start of the next epoch.
  void restart() {
    file_.reset();
    cursor_ = {.epoch = cursor_.epoch + 1};
  }

  bool at_end() const { return cursor_.file == static_cast<int64_t>(files_.size()); }

 private:
  static constexpr std::size_t kInitialBuffer = 1 << 20;

  Line take_line() {
    std::size_t searched = 0;  // bytes after begin_ known to hold no '\n'
    const char* newline = nullptr;
    for (;;) {
      newline = static_cast<const char*>(
          std::memchr(buffer_.data() + begin_ + searched, '\n', end_ - begin_ - searched));
      const int64_t unread = file_->size() - cursor_.offset - static_cast<int64_t>(end_ - begin_);
      if (newline != nullptr || unread == 0) break;
      searched = end_ - begin_;
      refill(unread);
    }
    const char* start = buffer_.data() + begin_;
    const char* text_end = newline != nullptr ? newline : buffer_.data() + end_;
    const std::size_t consumed = (text_end - start) + (newline != nullptr ? 1 : 0);
    std::string_view text(start, text_end - start);
    if (newline != nullptr && text.ends_with('\r')) text.remove_suffix(1);

    const Line line{text, cursor_.epoch, cursor_.file, cursor_.file_line, cursor_.line};
    begin_ += consumed;
    cursor_.offset += static_cast<int64_t>(consumed);
    ++cursor_.file_line;
    ++cursor_.line;
    // The buffer outlives the file, so `text` stays valid.
    if (cursor_.offset == file_->size()) next_file();
    return line;
  }

  // Moves the unread bytes to the front of the buffer, doubling it if they
  // fill it (a line longer than the buffer), and reads more after them.
  void refill(int64_t unread) {
    const std::size_t kept = end_ - begin_;
    std::memmove(buffer_.data(), buffer_.data() + begin_, kept);
    begin_ = 0;
    end_ = kept;
    if (end_ == buffer_.size()) buffer_.resize(buffer_.size() * 2);
    const std::size_t wanted = std::min<std::size_t>(buffer_.size() - end_, unread);
    const std::size_t got =
        file_->read(buffer_.data() + end_, wanted, cursor_.offset + static_cast<int64_t>(kept));
    if (got != wanted)
      throw IoError(message("TsvReader: '", files_[cursor_.file], "' ended at byte ",
                            cursor_.offset + static_cast<int64_t>(kept + got), " of ",
                            file_->size(), " while being read"));
    end_ += got;
  }

  void next_file() {
    file_.reset();
    cursor_ = {.epoch = cursor_.epoch, .file = cursor_.file + 1, .line = cursor_.line};
  }

  const std::vector<std::string>& files_;
  Cursor cursor_;
  std::optional<File> file_;
  // buffer_[begin_, end_) are the file's bytes from cursor_.offset on.
  std::vector<char> buffer_;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

// Gathers examples into the layout of ExampleBatch.
class BatchBuilder {
 public:
  BatchBuilder(std::size_t num_dense, std::size_t num_features, int64_t capacity)
      : values_(num_features), lengths_(num_features) {
    labels_.reserve(capacity);
    dense_.reserve(capacity * num_dense);
    for (auto& lengths : lengths_) lengths.reserve(capacity);
  }

  int64_t size() const { return static_cast<int64_t>(labels_.size()); }

  void add(const TsvExample& example) {
    labels_.push_back(example.label);
    dense_.insert(dense_.end(), example.dense.begin(), example.dense.end());
    for (std::size_t f = 0; f < lengths_.size(); ++f) {
      const std::optional<int64_t> row = example.categorical[f];
      if (row) values_[f].push_back(*row);
      lengths_[f].push_back(row ? 1 : 0);
    }
  }

  ExampleBatch finish() {
    ExampleBatch batch;
    batch.size = size();
    batch.labels = std::move(labels_);
    batch.dense = std::move(dense_);
    for (std::size_t f = 0; f < lengths_.size(); ++f) {
      batch.sparse_values.insert(batch.sparse_values.end(), values_[f].begin(), values_[f].end());
      batch.sparse_lengths.insert(batch.sparse_lengths.end(), lengths_[f].begin(),
                                  lengths_[f].end());
    }
    return batch;
  }

 private:
  std::vector<float> labels_;
  std::vector<float> dense_;
  std::vector<std::vector<int64_t>> values_;   // [feature][id]
  std::vector<std::vector<int64_t>> lengths_;  // [feature][example]
};

std::string where(const std::vector<std::string>& files, const Line& line) {
  return message("file '", files[line.file], "', line ", line.file_line + 1);
}

// Whether reading from `start` meets `line` for the first time: lines come
// round again one epoch later, from the start's place in its epoch on.
bool first_visit(const Line& line, const Cursor& start) {
  return line.epoch == start.epoch || (line.epoch == start.epoch + 1 && line.index < start.line);
}

std::string format(const Cursor& cursor) {
  return message(cursor.epoch, ":", cursor.file, ":", cursor.offset, ":", cursor.file_line, ":",
                 cursor.line);
}

}  // namespace

// The reader thread and the queue of batches it has made.
class TsvReader::ReadAhead {
 public:
  // What the reader thread hands to next(): a batch, or the end of the data
  // (no batch), or an error.
  struct Item {
    std::optional<ExampleBatch> batch;
    Cursor position_after;
    int64_t skipped_lines = 0;
    std::vector<std::string> warnings;  // the first of the skipped lines
    std::exception_ptr error;
  };

  ReadAhead(const TsvReaderOptions& options, const TsvLineParser& parser, const Cursor& start)
      : options_(options),
        parser_(parser),
        thread_([this, start](std::stop_token stop) { run(stop, start); }) {}

  // The next item, waiting for it. The end of the data and an error stay
  // in the queue, so that every later call gets them again (without their
  // skipped lines, which count once).
  Item take() {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [&] { return !queue_.empty(); });
    Item& front = queue_.front();
    if (!front.batch) {
      Item terminal{std::nullopt, front.position_after, front.skipped_lines,
                    std::move(front.warnings), front.error};
      front.skipped_lines = 0;
      front.warnings.clear();
      return terminal;
    }
    Item item = std::move(front);
    queue_.pop_front();
    not_full_.notify_one();
    return item;
  }

 private:
  void run(std::stop_token stop, Cursor start) {
    try {
      produce(stop, start);
    } catch (...) {
      Item failure;
      failure.error = std::current_exception();
      push(std::move(failure), stop);
    }
  }

  void produce(std::stop_token stop, const Cursor& start) {
    LineSource source(options_.files, start);
    // With `loop`, an epoch that gives this rank no example would make the
    // search for one endless: it is an error, found at the end of the first
    // epoch read from its start.
    bool whole_epoch = start.file == 0 && start.offset == 0;
    int64_t examples_in_epoch = 0;
    auto wrap = [&] {
      if (whole_epoch && examples_in_epoch == 0)
        throw InvalidArgument(message("TsvReader: the files give rank ", options_.rank, " of ",
                                      options_.world_size, " no example in a whole epoch (",
                                      source.cursor().line,
                                      " lines); with loop it would wait "
                                      "forever"));
      source.restart();
      whole_epoch = true;
      examples_in_epoch = 0;
    };
    if (options_.loop && source.at_end()) wrap();

    const TsvLayout& layout = parser_.layout();
    TsvExample example;
    int64_t warnings_made = 0;
    for (;;) {
      BatchBuilder builder(layout.dense_columns.size(), layout.categorical_columns.size(),
                           options_.batch_size);
      Item item;
      while (builder.size() < options_.batch_size) {
        if (stop.stop_requested()) return;
        const std::optional<Line> line = source.next();
        if (!line) {
          if (!options_.loop) break;
          wrap();
          continue;
        }
        if (line->index % options_.world_size != options_.rank) continue;
        if (const std::optional<std::string> problem = parser_.parse(line->text, example)) {
          auto text = [&] { return message(where(options_.files, *line), ": ", *problem); };
          if (options_.on_malformed == TsvReaderOptions::OnMalformed::fail)
            throw CorruptData(text());
          // A line met again in a later epoch was counted and reported already.
          if (!first_visit(*line, start)) continue;
          ++item.skipped_lines;
          if (options_.print_warnings && warnings_made < kMaxWarnings) {
            item.warnings.push_back(text());
            ++warnings_made;
          }
          continue;
        }
        builder.add(example);
        ++examples_in_epoch;
      }
      if (options_.loop && source.at_end()) wrap();
      item.position_after = source.cursor();
      const bool end_of_data = builder.size() == 0;
      if (!end_of_data) item.batch = builder.finish();
      if (!push(std::move(item), stop) || end_of_data) return;
    }
  }

  // Queues `item` once there is room; false if asked to stop first.
  bool push(Item item, std::stop_token stop) {
    std::unique_lock lock(mutex_);
    if (!not_full_.wait(lock, stop, [&] { return queue_.size() < kReadAheadBatches; }))
      return false;
    queue_.push_back(std::move(item));
    not_empty_.notify_one();
    return true;
  }

  const TsvReaderOptions& options_;
  const TsvLineParser& parser_;
  std::mutex mutex_;
  std::condition_variable not_empty_;
  std::condition_variable_any not_full_;
  std::deque<Item> queue_;
  // Last: started once everything it uses exists, stopped and joined first.
  std::jthread thread_;
};

namespace {

TsvLineParser checked_parser(const TsvReaderOptions& options) {
  if (options.files.empty()) throw InvalidArgument("TsvReader: no files to read");
  if (options.batch_size <= 0)
    throw InvalidArgument(message("TsvReader: batch_size ", options.batch_size, " must be > 0"));
  if (options.world_size <= 0)
    throw InvalidArgument(message("TsvReader: world_size ", options.world_size, " must be > 0"));
  if (options.rank < 0 || options.rank >= options.world_size)
    throw OutOfRange(message("TsvReader: rank ", options.rank, " is out of range [0, ",
                             options.world_size, ")"));
  for (const std::string& path : options.files) File{path};  // throws unless it opens
  return TsvLineParser(options.layout, options.rows_per_feature);
}

// The cursor `position` names, after checking that it is one.
Cursor parse_position(const std::string& position, const std::vector<std::string>& files) {
  const auto refuse = [&](const std::string& why) {
    return InvalidArgument(message("TsvReader::seek: position '", position, "' ", why));
  };
  int64_t parts[5];
  const char* at = position.data();
  const char* const end = position.data() + position.size();
  for (int i = 0; i < 5; ++i) {
    const auto [stop, error] = std::from_chars(at, end, parts[i]);
    const char expected_after = i < 4 ? ':' : '\0';
    const bool well_formed = error == std::errc() && parts[i] >= 0 &&
                             (i < 4 ? stop != end && *stop == expected_after : stop == end);
    if (!well_formed) throw refuse("is not epoch:file:offset:file_line:line (five counts)");
    at = stop + 1;
  }
  const Cursor cursor{parts[0], parts[1], parts[2], parts[3], parts[4]};
  const auto num_files = static_cast<int64_t>(files.size());
  if (cursor.file > num_files) throw refuse(message("names file ", cursor.file, " of ", num_files));
  if (cursor.file_line > cursor.offset || cursor.file_line > cursor.line)
    throw refuse("counts more lines before it than it can have");
  if (cursor.file == num_files) {
    if (cursor.offset != 0) throw refuse("has an offset past the end of the last file");
    return cursor;
  }
  const File file(files[cursor.file]);
  if (cursor.offset > file.size())
    throw refuse(
        message("is past the end of '", files[cursor.file], "' (", file.size(), " bytes)"));
  char before = '\n';
  if (cursor.offset > 0) file.read(&before, 1, cursor.offset - 1);
  if (before != '\n')
    throw refuse(message("is not at the start of a line of '", files[cursor.file], "'"));
  return cursor;
}

}  // namespace

TsvReader::TsvReader(TsvReaderOptions options)
    : options_(std::move(options)),
      parser_(checked_parser(options_)),
      position_(format(Cursor{})),
      read_ahead_(std::make_unique<ReadAhead>(options_, parser_, Cursor{})) {}

TsvReader::~TsvReader() {
  read_ahead_.reset();
  if (options_.print_warnings && skipped_lines_ > warnings_printed_)
    std::fprintf(stderr, "warning: TsvReader skipped %lld malformed lines; %lld not shown\n",
                 static_cast<long long>(skipped_lines_),
                 static_cast<long long>(skipped_lines_ - warnings_printed_));
}

std::optional<ExampleBatch> TsvReader::next() {
  ReadAhead::Item item = read_ahead_->take();
  skipped_lines_ += item.skipped_lines;
  for (const std::string& warning : item.warnings) {
    if (warnings_printed_ == kMaxWarnings) break;
    std::fprintf(stderr, "warning: %s; line skipped\n", warning.c_str());
    ++warnings_printed_;
  }
  if (item.error) std::rethrow_exception(item.error);
  position_ = format(item.position_after);
  return std::move(item.batch);
}

std::string TsvReader::position() const { return position_; }

void TsvReader::seek(const std::string& position) {
  const Cursor cursor = parse_position(position, options_.files);
  read_ahead_.reset();
  position_ = format(cursor);
  read_ahead_ = std::make_unique<ReadAhead>(options_, parser_, cursor);
}

}  // namespace rowshard
