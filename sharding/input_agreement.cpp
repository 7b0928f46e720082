#include "sharding/input_agreement.h"

#include <string>
#include <vector>

#include "rowshard/sharding/collectives.h"

namespace rowshard {
namespace {

// The first byte of a report names the error's kind; an empty report is
// "no error".
constexpr char kOutOfRange = 'O';
constexpr char kInvalidArgument = 'I';
constexpr char kCorruptData = 'C';
constexpr char kIoError = 'F';
constexpr char kOtherError = 'E';

std::string local_report(const std::function<void()>& check) {
  try {
    check();
  } catch (const OutOfRange& error) {
    return kOutOfRange + std::string(error.what());
  } catch (const InvalidArgument& error) {
    return kInvalidArgument + std::string(error.what());
  } catch (const CorruptData& error) {
    return kCorruptData + std::string(error.what());
  } catch (const IoError& error) {
    return kIoError + std::string(error.what());
  } catch (const Error& error) {
    return kOtherError + std::string(error.what());
  }
  return {};
}

}  // namespace

void agree_on_input(Communicator& comm, const std::function<void()>& check) {
  const std::vector<std::string> reports = allgather_text(comm, local_report(check));
  for (int k = 0; k < comm.size(); ++k) {
    const std::string& report = reports[k];
    if (report.empty()) continue;
    // Which rank failed only needs saying when there are several.
    const std::string what =
        comm.size() > 1 ? message("rank ", k, ": ", report.substr(1)) : report.substr(1);
    switch (report[0]) {
      case kOutOfRange: throw OutOfRange(what);
      case kInvalidArgument: throw InvalidArgument(what);
      case kCorruptData: throw CorruptData(what);
      case kIoError: throw IoError(what);
    }
    throw Error(what);
  }
}

}  // namespace rowshard
