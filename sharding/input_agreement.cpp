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
  const std::vector<std::string> reports = allgather_text(comm, local_report(check));
  for (int k = 0; k < comm.size(); ++k) {
    const std::string& report = reports[k];
    if (report.empty()) continue;
    const std::string what = message("rank ", k, ": ", report.substr(1));
    if (report[0] == kOutOfRange) throw OutOfRange(what);
    if (report[0] == kInvalidArgument) throw InvalidArgument(what);
    throw Error(what);
  }
}

}  // namespace rowshard
