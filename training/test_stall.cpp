#include "training/test_stall.h"

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include "rowshard/engine/error.h"

namespace rowshard {
namespace {

constexpr const char* kVariable = "ROWSHARD_TEST_STALL";

[[noreturn]] void malformed(const std::string& text, const std::string& problem) {
  throw InvalidArgument(
      message(kVariable, "='", text, "': ", problem, " (expected 'rank=R step=S seconds=T')"));
}

template <typename Number>
Number parse_number(const std::string& text, const std::string& key, const std::string& value) {
  Number number{};
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), number);
  if (error != std::errc() || end != value.data() + value.size())
    malformed(text, message(key, " is not a number: '", value, "'"));
  return number;
}

}  // namespace

void TestStall::stall_if_due(int this_rank, int64_t this_step) const {
  if (this_rank == rank && this_step == step)
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
}

std::optional<TestStall> test_stall_from_environment() {
  const char* variable = std::getenv(kVariable);
  if (variable == nullptr) return std::nullopt;
  const std::string text = variable;
  std::map<std::string, std::string> fields;
  std::istringstream words(text);
  for (std::string word; words >> word;) {
    const std::size_t equals = word.find('=');
    if (equals == std::string::npos) malformed(text, message("'", word, "' is not key=value"));
    const std::string key = word.substr(0, equals);
    if (key != "rank" && key != "step" && key != "seconds")
      malformed(text, message("unknown key '", key, "'"));
    if (!fields.emplace(key, word.substr(equals + 1)).second)
      malformed(text, message("'", key, "' given twice"));
  }
  if (fields.size() != 3) malformed(text, "needs rank, step and seconds");
  TestStall stall;
  stall.rank = parse_number<int>(text, "rank", fields["rank"]);
  stall.step = parse_number<int64_t>(text, "step", fields["step"]);
  stall.seconds = parse_number<double>(text, "seconds", fields["seconds"]);
  if (stall.rank < 0 || stall.step < 1 || !(stall.seconds >= 0))
    malformed(text, "needs rank >= 0, step >= 1 and seconds >= 0");
  return stall;
}

}  // namespace rowshard
