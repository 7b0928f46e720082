#include "sharding/input_agreement.h"

#include <string>
#include <vector>

#include "sharding/collectives.h"

namespace rowshard {
namespace {

// The first byte of a report names the error's kind; an empty report is
// "no error".
constexpr char kOutOfRange = 'O';
constexpr char kInvalidArgument = 'I';
constexpr char kOtherError = 'E';

std::string local_report(const std::function<void()>& check) {
  try {
    check();
  } catch (const OutOfRange& error) {
    return kOutOfRange + std::string(error.what());
  } catch (const InvalidArgument& error) {
    return kInvalidArgument + std::string(error.what());
  } catch (const Error& error) {
    return kOtherError + std::string(error.what());
  }
  return {};
}

}  // namespace

void agree_on_input(Communicator& comm, const std::function<void()>& check) {
  const std::string report = local_report(check);
  // Every rank sends its report to every rank (itself included).
  std::vector<char> send;
  for (int k = 0; k < comm.size(); ++k) send.insert(send.end(), report.begin(), report.end());
  const std::vector<int64_t> counts(comm.size(), static_cast<int64_t>(report.size()));
  const ReceivedArrays<char> reports = exchange<char>(comm, send, counts);
  for (int k = 0; k < comm.size(); ++k) {
    const std::span<const char> text = reports.from(k);
    if (text.empty()) continue;
    const std::string what = message("rank ", k, ": ", std::string(text.begin() + 1, text.end()));
    if (text[0] == kOutOfRange) throw OutOfRange(what);
    if (text[0] == kInvalidArgument) throw InvalidArgument(what);
    throw Error(what);
  }
}

}  // namespace rowshard
