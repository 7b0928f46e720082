// checkpoint-bench: how fast checkpoints save, against the disk's own
// sequential write speed (dd, in the same run), and how fast a big frozen
// table is served from_pretrained, against reading the file whole.
//
//   checkpoint-bench --dir /work/tmp --rows 4000000 --dim 64
//
// Prints one JSON object.
#include <fcntl.h>
#include <omp.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>

#include "bench/command_line.h"
#include "engine/stopwatch.h"
#include "rowshard/engine/embedding_bag_collection.h"
#include "rowshard/engine/error.h"
#include "rowshard/io/checkpoint/save.h"
#include "rowshard/io/pretrained.h"

namespace {

namespace po = boost::program_options;
using namespace rowshard;

// dd's figure for writing `bytes` to `path` and fsyncing it.
double dd_write_bytes_per_second(const std::filesystem::path& path, int64_t bytes) {
  const int64_t megabytes = bytes >> 20;
  const std::string command =
      message("dd if=/dev/zero of=", path.string(), " bs=1M count=", megabytes, " conv=fsync 2>&1");
  const auto start = SteadyClock::now();
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) throw IoError("cannot run dd");
  char line[512];
  while (std::fgets(line, sizeof line, pipe) != nullptr) {
  }
  if (pclose(pipe) != 0) throw IoError(message("dd failed: ", command));
  const double elapsed = seconds_since(start);
  std::filesystem::remove(path);
  return static_cast<double>(megabytes << 20) / elapsed;
}

double read_whole_seconds(const std::filesystem::path& path) {
  const auto start = SteadyClock::now();
  std::ifstream in(path, std::ios::binary);
  std::vector<char> buffer(8 << 20);
  while (in.read(buffer.data(), static_cast<std::streamsize>(buffer.size())) || in.gcount() > 0) {
  }
  return seconds_since(start);
}

// Asks the kernel to forget the file's pages, so a read comes from disk.
void drop_from_page_cache(const std::filesystem::path& path) {
  std::FILE* file = std::fopen(path.c_str(), "r");
  if (file == nullptr) return;
  posix_fadvise(fileno(file), 0, 0, POSIX_FADV_DONTNEED);
  std::fclose(file);
}

}  // namespace

int main(int argc, char** argv) {
  std::string directory;
  int64_t rows = 0, dim = 0, lookups = 0;
  po::options_description options("usage: checkpoint-bench [OPTIONS]\noptions");
  options.add_options()("help", "show this help")(
      "dir", po::value(&directory)->default_value("/tmp/rowshard-checkpoint-bench"),
      "where to write (same disk as the checkpoints you care about)")(
      "rows", po::value(&rows)->default_value(4'000'000), "table rows")(
      "dim", po::value(&dim)->default_value(64), "table dim (f32)")(
      "lookups", po::value(&lookups)->default_value(4096), "ids in the first lookup batch");
  try {
    if (!bench::parse_command_line(argc, argv, options)) return 0;
    const std::filesystem::path root = directory;
    std::filesystem::remove_all(root);
    std::filesystem::create_directories(root);

    CollectionTableConfig config;
    config.table.name = "table";
    config.table.num_embeddings = rows;
    config.table.embedding_dim = dim;
    config.table.mode = PoolingMode::sum;
    EmbeddingBagCollection collection({config}, {{"f", "table", false}});
    const int64_t table_bytes = rows * dim * 4 + rows * 4;

    const double dd_speed = dd_write_bytes_per_second(root / "dd.bin", table_bytes);
    auto start = SteadyClock::now();
    const auto saved = checkpoint::save(collection, {root, 1, 1, ""});
    const double save_seconds = seconds_since(start);
    const double save_speed = static_cast<double>(table_bytes) / save_seconds;

    // from_pretrained of the saved table, frozen, and its first lookup batch,
    // first with the file only on disk, then with it in the page cache.
    const std::filesystem::path table_file = saved / "table" / message("weight.0-", rows, ".bin");
    std::mt19937_64 rng(1);
    std::vector<int64_t> ids(lookups);
    for (int64_t& id : ids) id = static_cast<int64_t>(rng() % rows);
    const std::vector<int64_t> offsets = {0};
    EmbeddingBagOptions bag_options;
    bag_options.mode = PoolingMode::sum;
    auto first_lookup_seconds = [&] {
      const auto begin = SteadyClock::now();
      EmbeddingBag bag = EmbeddingBag::from_pretrained(
          map_pretrained({table_file.string(), {}, false}, false), bag_options);
      const Lookup lookup = bag.forward({ids, {lookups}, offsets, std::nullopt, {}});
      if (lookup.output.values.empty()) throw Error("no output");
      return seconds_since(begin);
    };
    drop_from_page_cache(table_file);
    const double cold_lookup = first_lookup_seconds();
    drop_from_page_cache(table_file);
    const double cold_read = read_whole_seconds(table_file);  // leaves it cached
    const double warm_read = read_whole_seconds(table_file);
    const double warm_lookup = first_lookup_seconds();

    nlohmann::ordered_json result = {{"bench", "checkpoint"},
                                     {"rows", rows},
                                     {"dim", dim},
                                     {"table_bytes", table_bytes},
                                     {"dd_write_mb_per_s", dd_speed / 1e6},
                                     {"save_seconds", save_seconds},
                                     {"save_mb_per_s", save_speed / 1e6},
                                     {"save_vs_dd", save_speed / dd_speed},
                                     {"lookups", lookups},
                                     {"cold_first_lookup_seconds", cold_lookup},
                                     {"cold_read_whole_seconds", cold_read},
                                     {"cold_lookup_vs_read", cold_lookup / cold_read},
                                     {"warm_first_lookup_seconds", warm_lookup},
                                     {"warm_read_whole_seconds", warm_read},
                                     {"warm_lookup_vs_read", warm_lookup / warm_read}};
    std::printf("%s\n", result.dump().c_str());
    std::filesystem::remove_all(root);
    return 0;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "checkpoint-bench: %s\n", rowshard::error_text(error).c_str());
    return 1;
  }
}
