// rowshard-conformance [--sharding row_wise|table_wise|column_wise] DIR...
// rowshard-conformance --help
//
// Runs every conformance case (CONFORMANCE.md) found under the directories
// and prints one line per failing case, then "N passed, M failed" (and
// ", K skipped"). Exits 1 when any case failed. With --sharding, under
// mpirun -np W, each embedding_bag case runs on a table sharded that way
// across the W ranks; only rank 0 prints.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "rowshard/engine/error.h"
#include "rowshard/sharding/communicator.h"
#include "tests/conformance/run_case.h"
#include "tests/conformance/run_sharded_case.h"

namespace {

namespace fs = std::filesystem;
using rowshard::conformance::Verdict;

std::vector<fs::path> find_cases(const std::vector<std::string>& roots) {
  std::vector<fs::path> cases;
  for (const std::string& root : roots) {
    if (fs::is_regular_file(fs::path(root) / "case.json")) cases.push_back(root);
    if (!fs::is_directory(root)) continue;
    for (const auto& entry : fs::recursive_directory_iterator(root))
      if (entry.is_regular_file() && entry.path().filename() == "case.json")
        cases.push_back(entry.path().parent_path());
  }
  std::sort(cases.begin(), cases.end());
  cases.erase(std::unique(cases.begin(), cases.end()), cases.end());
  return cases;
}

constexpr const char* kUsage =
    "usage: rowshard-conformance [--sharding row_wise|table_wise|column_wise] DIR...\n";

int usage(const char* problem) {
  std::fprintf(stderr, "rowshard-conformance: %s\n%s", problem, kUsage);
  return 2;
}

// The sharding names of the job that a conformance case runs under.
std::optional<rowshard::ShardingKind> parse_sharding(const std::string& name) {
  const std::optional<rowshard::TableSharding> sharding = rowshard::sharding_from_name(name);
  if (!sharding || sharding->placement != rowshard::RowPlacement::contiguous ||
      sharding->kind == rowshard::ShardingKind::data_parallel)
    return std::nullopt;
  return sharding->kind;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> roots;
  std::optional<rowshard::ShardingKind> sharding;
  for (int i = 1; i < argc; ++i) {
    const std::string argument = argv[i];
    if (argument == "--help" || argument == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (argument == "--sharding") {
      if (i + 1 == argc) return usage("--sharding needs row_wise, table_wise or column_wise");
      sharding = parse_sharding(argv[++i]);
      if (!sharding) return usage("--sharding takes row_wise, table_wise or column_wise");
    } else {
      roots.push_back(argument);
    }
  }
  if (roots.empty()) return usage("no case directories given");
  for (const std::string& root : roots)
    if (!fs::exists(root)) return usage(("no such directory: " + root).c_str());

  std::unique_ptr<rowshard::Communicator> comm;
  if (sharding) comm = rowshard::world_communicator();
  const bool prints = !comm || comm->rank() == 0;

  int passed = 0, failed = 0, skipped = 0;
  for (const fs::path& directory : find_cases(roots)) {
    Verdict verdict;
    try {
      const auto c = rowshard::conformance::load_case(directory);
      verdict = sharding ? rowshard::conformance::run_sharded_case(c, *comm, *sharding)
                         : rowshard::conformance::run_case(c);
    } catch (const rowshard::Error& error) {
      verdict = {Verdict::Outcome::failed, std::string("case unreadable: ") + error.what()};
    }
    switch (verdict.outcome) {
      case Verdict::Outcome::passed: ++passed; break;
      case Verdict::Outcome::skipped: ++skipped; break;
      case Verdict::Outcome::failed:
        ++failed;
        if (prints) std::printf("FAILED %s: %s\n", directory.c_str(), verdict.detail.c_str());
        break;
    }
  }
  if (prints) {
    if (skipped > 0)
      std::printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    else
      std::printf("%d passed, %d failed\n", passed, failed);
  }
  return failed > 0 ? 1 : 0;
}
