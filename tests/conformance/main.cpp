// rowshard-conformance: runs directories of conformance cases (see
// CONFORMANCE.md) and prints one line per failing case, then
// "N passed, M failed[, K skipped]". Exits 1 when any case failed.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/error.h"
#include "tests/conformance/run_case.h"

namespace {

namespace fs = std::filesystem;
using rowshard::conformance::Verdict;

std::vector<fs::path> find_cases(const std::vector<std::string>& roots) {
  std::vector<fs::path> cases;
  for (const std::string& root : roots) {
    if (fs::is_regular_file(fs::path(root) / "case.json"))
      cases.push_back(root);
    if (!fs::is_directory(root)) continue;
    for (const auto& entry : fs::recursive_directory_iterator(root))
      if (entry.is_regular_file() && entry.path().filename() == "case.json" &&
          entry.path().parent_path() != fs::path(root))
        cases.push_back(entry.path().parent_path());
  }
  std::sort(cases.begin(), cases.end());
  cases.erase(std::unique(cases.begin(), cases.end()), cases.end());
  return cases;
}

int usage() {
  std::fprintf(stderr, "usage: rowshard-conformance DIR...\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> roots(argv + 1, argv + argc);
  if (roots.empty()) return usage();
  for (const std::string& root : roots) {
    if (!fs::exists(root)) {
      std::fprintf(stderr, "rowshard-conformance: no such directory '%s'\n",
                   root.c_str());
      return 2;
    }
  }

  int passed = 0, failed = 0, skipped = 0;
  for (const fs::path& directory : find_cases(roots)) {
    Verdict verdict;
    try {
      verdict = run_case(rowshard::conformance::load_case(directory));
    } catch (const rowshard::Error& error) {
      verdict = {Verdict::Outcome::failed,
                 std::string("case unreadable: ") + error.what()};
    }
    switch (verdict.outcome) {
      case Verdict::Outcome::passed: ++passed; break;
      case Verdict::Outcome::skipped: ++skipped; break;
      case Verdict::Outcome::failed:
        ++failed;
        std::printf("FAILED %s: %s\n", directory.c_str(),
                    verdict.detail.c_str());
        break;
    }
  }
  if (skipped > 0)
    std::printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
  else
    std::printf("%d passed, %d failed\n", passed, failed);
  return failed > 0 ? 1 : 0;
}
