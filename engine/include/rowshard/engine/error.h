// Errors raised by rowshard.
//
// Bad input from a caller (an id out of range, offsets that go backwards, a
// corrupt file) throws a subclass of rowshard::Error whose message names the
// operation, the table, the offending value, its position and the valid
// range, e.g.
//   EmbeddingBag 'user_id': index 12 at position 5 is out of range [0, 10)
// Such a call validates everything before it writes anything, so a refused
// call leaves tables and optimizer state as they were.
//
// A broken internal invariant is a bug, not bad input: ROWSHARD_ASSERT aborts
// with file and line instead of throwing.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace rowshard {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An argument that is malformed: wrong shape, wrong combination of options,
// offsets that do not describe bags.
class InvalidArgument : public Error {
 public:
  using Error::Error;
};

// An argument value outside its valid interval (an index, an offset, a
// padding_idx). It is an InvalidArgument too, so callers that only care that
// the input was bad can catch the base.
class OutOfRange : public InvalidArgument {
 public:
  using InvalidArgument::InvalidArgument;
};

// The operating system refused a file operation.
class IoError : public Error {
 public:
  using Error::Error;
};

// A file was read but its bytes are not what they claim to be: truncated,
// a bad checksum, a header that disagrees with the file's size.
class CorruptData : public Error {
 public:
  using Error::Error;
};

// Memory for a table or a buffer could not be had; the message says how
// many bytes for what.
class OutOfMemory : public Error {
 public:
  using Error::Error;
};

// Joins the parts with operator<< into one message.
template <typename... Parts>
std::string message(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

// What a tool prints for an error that ended it: the message, or for a
// std::bad_alloc (whose own text names nothing) a sentence saying that
// memory ran out and what to change.
std::string error_text(const std::exception& error);

[[noreturn]] void assertion_failed(const char* condition, const char* file, int line);

}  // namespace rowshard

#define ROWSHARD_ASSERT(condition)                                                  \
  do {                                                                              \
    if (!(condition)) ::rowshard::assertion_failed(#condition, __FILE__, __LINE__); \
  } while (false)
