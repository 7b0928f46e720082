// rowshard-bench: times the collection's forward or fused training step on
// a synthetic workload and prints one JSON object per run.
//
//   rowshard-bench --rows 4000000 --dim 64 --batch 65536 --pooling-factor 40
//                  --tables 1 --mode sum --dtype f32 --dist zipf:1.05
//                  --op train --threads 2 --seed 1 --repeat 5
//
// The same batch is timed `repeat` times after one warm-up step; the JSON
// gives the median and spread of seconds per step. --write-ids DIR saves the
// batch (indices_t{t}.npy, offsets_t{t}.npy) so bench/compare_torch.py can
// time PyTorch on exactly the same ids.
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <random>

#include "bench/workload.h"
#include "engine/embedding_bag_collection.h"
#include "engine/error.h"
#include "io/npy/npy_file.h"

namespace {

namespace po = boost::program_options;
using namespace rowshard;

struct Settings {
  int64_t rows, dim, batch, pooling_factor, tables;
  std::string mode, dtype, dist, op, write_ids;
  int threads, repeat;
  uint64_t seed;
};

DType parse_dtype(const std::string& name) {
  for (DType dtype : {DType::f32, DType::f16, DType::bf16})
    if (name == dtype_name(dtype)) return dtype;
  throw InvalidArgument(message("--dtype '", name, "' is not f32, f16 or bf16"));
}

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux: KiB
}

int64_t count_distinct(std::vector<int64_t> ids) {
  std::sort(ids.begin(), ids.end());
  return std::unique(ids.begin(), ids.end()) - ids.begin();
}

int run(const Settings& s) {
  const std::optional<PoolingMode> mode = parse_pooling_mode(s.mode);
  if (!mode) throw InvalidArgument(message("--mode '", s.mode, "' is not sum, mean or max"));
  const DType dtype = parse_dtype(s.dtype);
  const bench::IdDistribution distribution = bench::IdDistribution::parse(s.dist);
  if (s.op != "forward" && s.op != "train")
    throw InvalidArgument(message("--op '", s.op, "' is not forward or train"));
  omp_set_num_threads(s.threads);

  std::vector<CollectionTableConfig> tables;
  std::vector<FeatureConfig> features;
  for (int64_t t = 0; t < s.tables; ++t) {
    CollectionTableConfig config;
    config.table.name = message("table_", t);
    config.table.num_embeddings = s.rows;
    config.table.embedding_dim = s.dim;
    config.table.mode = *mode;
    config.table.dtype = dtype;
    config.table.seed = s.seed + t;
    tables.push_back(config);
    features.push_back({message("feature_", t), config.table.name, false});
  }
  EmbeddingBagCollection collection(tables, features);

  const int64_t per_table = s.batch * s.pooling_factor;
  std::vector<int64_t> values;
  int64_t unique_rows = 0;
  for (int64_t t = 0; t < s.tables; ++t) {
    std::vector<int64_t> ids =
        bench::generate_ids(s.rows, per_table, distribution, s.seed * 1000 + t);
    unique_rows += count_distinct(ids);
    if (!s.write_ids.empty()) {
      std::filesystem::create_directories(s.write_ids);
      std::vector<int64_t> offsets(s.batch);
      for (int64_t b = 0; b < s.batch; ++b) offsets[b] = b * s.pooling_factor;
      npy::write(message(s.write_ids, "/indices_t", t, ".npy"),
                 npy::ElementType::int64, {per_table}, ids.data());
      npy::write(message(s.write_ids, "/offsets_t", t, ".npy"),
                 npy::ElementType::int64, {s.batch}, offsets.data());
    }
    values.insert(values.end(), ids.begin(), ids.end());
  }
  const std::vector<int64_t> lengths(s.tables * s.batch, s.pooling_factor);
  const KeyedJaggedBatch batch{s.batch, values, lengths, {}, std::nullopt};

  std::mt19937_64 rng(s.seed);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::vector<float> grad_output(s.batch * collection.total_dim());
  for (float& g : grad_output) g = unit(rng) * 1e-3f;

  std::vector<double> seconds;
  for (int i = 0; i <= s.repeat; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const CollectionLookup lookup = collection.forward(batch);
    if (s.op == "train") collection.step(lookup, grad_output);
    const std::chrono::duration<double> elapsed =
        std::chrono::steady_clock::now() - start;
    if (i > 0) seconds.push_back(elapsed.count());  // step 0 warms up
  }
  std::sort(seconds.begin(), seconds.end());
  const double median = seconds[seconds.size() / 2];
  const double lookups = static_cast<double>(per_table * s.tables);
  std::printf(
      "{\"engine\":\"rowshard\",\"op\":\"%s\",\"rows\":%lld,\"dim\":%lld,"
      "\"batch\":%lld,\"pooling_factor\":%lld,\"tables\":%lld,\"mode\":\"%s\","
      "\"dtype\":\"%s\",\"dist\":\"%s\",\"threads\":%d,\"repeat\":%d,"
      "\"seconds_median\":%.6f,\"seconds_min\":%.6f,\"seconds_max\":%.6f,"
      "\"mlookups_per_s\":%.3f,\"gb_per_s\":%.3f,\"unique_rows_per_step\":%lld,"
      "\"peak_rss_mb\":%.1f}\n",
      s.op.c_str(), static_cast<long long>(s.rows), static_cast<long long>(s.dim),
      static_cast<long long>(s.batch), static_cast<long long>(s.pooling_factor),
      static_cast<long long>(s.tables), s.mode.c_str(), s.dtype.c_str(),
      distribution.name().c_str(), s.threads, s.repeat, median, seconds.front(),
      seconds.back(), lookups / median / 1e6,
      lookups * static_cast<double>(s.dim * dtype_size(dtype)) / median / 1e9,
      static_cast<long long>(unique_rows), peak_rss_mb());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  po::options_description options("rowshard-bench options");
  options.add_options()
      ("help", "show this help")
      ("rows", po::value(&s.rows)->default_value(1'000'000), "rows per table")
      ("dim", po::value(&s.dim)->default_value(64), "embedding dim")
      ("batch", po::value(&s.batch)->default_value(16384), "bags per feature")
      ("pooling-factor", po::value(&s.pooling_factor)->default_value(40), "ids per bag")
      ("tables", po::value(&s.tables)->default_value(1), "tables, one feature each")
      ("mode", po::value(&s.mode)->default_value("sum"), "sum | mean | max")
      ("dtype", po::value(&s.dtype)->default_value("f32"), "f32 | f16 | bf16")
      ("dist", po::value(&s.dist)->default_value("uniform"), "uniform | zipf:ALPHA")
      ("op", po::value(&s.op)->default_value("forward"), "forward | train")
      ("threads", po::value(&s.threads)->default_value(omp_get_num_procs()), "OpenMP threads")
      ("seed", po::value(&s.seed)->default_value(1), "seed of ids and weights")
      ("repeat", po::value(&s.repeat)->default_value(5), "timed steps")
      ("write-ids", po::value(&s.write_ids)->default_value(""), "save the batch as .npy here");
  try {
    po::variables_map given;
    po::store(po::parse_command_line(argc, argv, options), given);
    if (given.count("help")) {
      std::cout << options << "\n";
      return 0;
    }
    po::notify(given);
    if (s.rows < 1 || s.dim < 1 || s.batch < 1 || s.pooling_factor < 0 ||
        s.tables < 1 || s.threads < 1 || s.repeat < 1)
      throw InvalidArgument("sizes, threads and repeat must be positive");
    return run(s);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "rowshard-bench: %s\n", error.what());
    return 2;
  }
}
