// rowshard-bench: times the collection's forward (forward_no_grad, as
// PyTorch's forward under no_grad) or fused training step (forward, then
// step) on a synthetic workload and prints one JSON object per run.
//
//   rowshard-bench --rows 4000000 --dim 64 --batch 65536 --pooling-factor 40
//                  --tables 1 --mode sum --dtype f32 --dist zipf:1.05
//                  --op train --threads 2 --seed 1 --repeat 5
//
// The same batch is timed `repeat` times after one warm-up step; the JSON
// gives the median and spread of seconds per step, and build_seconds, the
// time to build the collection (its tables drawn from N(0, 1), and their
// optimizer state). --write-ids DIR saves the
// batch (indices_t{t}.npy, offsets_t{t}.npy) so bench/compare_torch.py can
// time PyTorch on exactly the same ids. --device cuda puts the tables on the
// GPU and adds the bytes a step moves as a fraction of the GPU's own
// device-to-device copy bandwidth (moved_gb_per_s, copy_gb_per_s).
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <random>

#include <nlohmann/json.hpp>
#include "bench/command_line.h"
#include "bench/device_copy_bandwidth.h"
#include "bench/workload.h"
#include "bench/workload_flags.h"

#include "engine/stopwatch.h"
#include "rowshard/engine/cpu_level.h"
#include "rowshard/engine/embedding_bag_collection.h"
#include "rowshard/engine/error.h"
#include "rowshard/engine/malloc_tuning.h"
#include "rowshard/io/npy/npy_file.h"
#include "rowshard/sharding/sharded_collection.h"

namespace {

namespace po = boost::program_options;
using namespace rowshard;

struct Settings : bench::WorkloadFlags {
  std::string write_ids, sharding, device;
  bool no_dedup = false;
  bool stochastic_rounding = false;
};

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux: KiB
}

int64_t count_distinct(std::vector<int64_t> ids) {
  std::sort(ids.begin(), ids.end());
  return std::unique(ids.begin(), ids.end()) - ids.begin();
}

// "none": one process, no sharding; otherwise a sharding name, as in the job.
std::optional<TableSharding> parse_sharding(const std::string& name) {
  if (name == "none") return std::nullopt;
  const std::optional<TableSharding> sharding = sharding_from_name(name);
  if (!sharding)
    throw InvalidArgument(
        message("--sharding '", name, "' is not one of: none, ", valid_sharding_names()));
  return sharding;
}

double median_of(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

int run(const Settings& s) {
  const std::optional<PoolingMode> mode = parse_pooling_mode(s.mode);
  if (!mode) throw InvalidArgument(message("--mode '", s.mode, "' is not sum, mean or max"));
  const DType dtype = bench::parse_dtype(s.dtype);
  const bench::IdDistribution distribution = bench::IdDistribution::parse(s.dist);
  if (s.op != "forward" && s.op != "train")
    throw InvalidArgument(message("--op '", s.op, "' is not forward or train"));
  const std::optional<TableSharding> sharding = parse_sharding(s.sharding);
  const std::optional<Device> device = device_from_name(s.device);
  if (!device) throw InvalidArgument(message("--device '", s.device, "' is not cpu or cuda"));
  omp_set_num_threads(s.threads);

  std::vector<CollectionTableConfig> tables;
  std::vector<FeatureConfig> features;
  std::vector<std::string> keys;
  for (int64_t t = 0; t < s.tables; ++t) {
    CollectionTableConfig config;
    config.table.name = message("table_", t);
    config.table.num_embeddings = s.rows;
    config.table.embedding_dim = s.dim;
    config.table.mode = *mode;
    config.table.dtype = dtype;
    config.table.stochastic_rounding = s.stochastic_rounding;
    config.table.seed = s.seed + t;
    config.table.device = *device;
    tables.push_back(config);
    features.push_back({message("feature_", t), config.table.name, false});
    keys.push_back(features.back().name);
  }

  // Sharded runs: every rank has --batch examples of its own (weak scaling).
  std::unique_ptr<Communicator> comm;
  std::unique_ptr<EmbeddingBagCollection> collection;
  std::unique_ptr<ShardedEmbeddingBagCollection> sharded;
  const auto build_start = SteadyClock::now();
  if (sharding) {
    comm = world_communicator();
    sharded = std::make_unique<ShardedEmbeddingBagCollection>(
        *comm, tables, std::vector<TableSharding>(tables.size(), *sharding), features,
        ShardedCollectionOptions{.deduplicate_ids = !s.no_dedup});
  } else {
    collection = std::make_unique<EmbeddingBagCollection>(tables, features);
  }
  const double build_seconds = seconds_since(build_start);
  const int rank = comm ? comm->rank() : 0;

  const int64_t per_table = s.batch * s.pooling_factor;
  std::vector<int64_t> values;
  int64_t unique_rows = 0;
  for (int64_t t = 0; t < s.tables; ++t) {
    std::vector<int64_t> ids =
        bench::generate_ids(s.rows, per_table, distribution, (s.seed * 1000 + t) * 1000 + rank);
    unique_rows += count_distinct(ids);
    if (!s.write_ids.empty() && rank == 0) {
      std::filesystem::create_directories(s.write_ids);
      std::vector<int64_t> offsets(s.batch);
      for (int64_t b = 0; b < s.batch; ++b) offsets[b] = b * s.pooling_factor;
      npy::write(message(s.write_ids, "/indices_t", t, ".npy"), npy::ElementType::int64,
                 {per_table}, ids.data());
      npy::write(message(s.write_ids, "/offsets_t", t, ".npy"), npy::ElementType::int64, {s.batch},
                 offsets.data());
    }
    values.insert(values.end(), ids.begin(), ids.end());
  }
  const std::vector<int64_t> lengths(s.tables * s.batch, s.pooling_factor);
  const KeyedJaggedBatch batch{keys, s.batch, values, lengths, {}, std::nullopt};

  std::mt19937_64 rng(s.seed);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::vector<float> grad_output(s.batch * s.tables * s.dim);
  for (float& g : grad_output) g = unit(rng) * 1e-3f;

  std::vector<double> seconds;
  std::vector<StepStats> stats;
  for (int i = 0; i <= s.repeat; ++i) {
    if (comm) comm->barrier();
    const auto start = SteadyClock::now();
    if (sharded) {
      const CollectionLookup lookup = sharded->forward(batch);
      if (s.op == "train") sharded->step(lookup, grad_output);
    } else if (s.op == "train") {
      collection->step(collection->forward(batch), grad_output);
    } else {
      // The lookup alone, as PyTorch's forward under no_grad.
      const Tensor output = collection->forward_no_grad(batch);
    }
    const double elapsed = seconds_since(start);
    if (i == 0) continue;  // warm-up
    seconds.push_back(elapsed);
    if (sharded) stats.push_back(sharded->last_stats());
  }
  const double median = median_of(seconds);
  const double lookups = static_cast<double>(per_table * s.tables);
  const double row_bytes = static_cast<double>(s.dim * dtype_size(dtype));

  nlohmann::ordered_json result =
      bench::workload_result("rowshard", s, std::string(distribution.name()), seconds);
  result["stochastic_rounding"] = s.stochastic_rounding;
  result["cpu_level"] = cpu_level_name(cpu_level());
  result.update(nlohmann::ordered_json{{"mlookups_per_s", lookups / median / 1e6},
                                       {"gb_per_s", lookups * row_bytes / median / 1e9},
                                       {"unique_rows_per_step", unique_rows},
                                       {"peak_rss_mb", peak_rss_mb()},
                                       {"build_seconds", build_seconds}});
  if (*device == Device::cuda) {
    // What a step moves at least: each looked-up row read by the forward;
    // for a training step also each entry's upstream gradient read and
    // each distinct row read and written back by the update.
    double bytes = lookups * row_bytes;
    if (s.op == "train")
      bytes += lookups * static_cast<double>(s.dim) * 4 +
               2 * static_cast<double>(unique_rows) * row_bytes;
    const double copy = bench::device_copy_bytes_per_second();
    result["device"] = "cuda";
    result["bytes_per_step"] = bytes;
    result["moved_gb_per_s"] = bytes / median / 1e9;
    result["copy_gb_per_s"] = copy / 1e9;
    result["fraction_of_copy_bandwidth"] = bytes / median / copy;
  }
  if (sharded) {
    auto stat = [&](auto field) {
      std::vector<double> values;
      for (const StepStats& step : stats) values.push_back(static_cast<double>(step.*field));
      return median_of(values);
    };
    result["ranks"] = comm->size();
    result["sharding"] = s.sharding;
    result["deduplicate_ids"] = !s.no_dedup;
    result["input_exchange_s"] = stat(&StepStats::input_exchange_seconds);
    result["lookup_s"] = stat(&StepStats::lookup_seconds);
    result["output_exchange_s"] = stat(&StepStats::output_exchange_seconds);
    result["backward_s"] = stat(&StepStats::backward_seconds);
    result["bytes_sent_per_step"] = stat(&StepStats::bytes_sent);
    result["bytes_received_per_step"] = stat(&StepStats::bytes_received);
    result["ids_sent_per_step"] = stat(&StepStats::ids_sent);
  }
  if (rank == 0) std::printf("%s\n", result.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory_for_reuse();
  Settings s;
  po::options_description options("usage: rowshard-bench [OPTIONS]\noptions");
  options.add_options()("help", "show this help");
  bench::add_workload_options(options, s);
  options.add_options()("stochastic-rounding", po::bool_switch(&s.stochastic_rounding),
                        "f16 / bf16: round updated rows stochastically, not to nearest even")(
      "write-ids", po::value(&s.write_ids)->default_value(""), "save the batch as .npy here")(
      "sharding", po::value(&s.sharding)->default_value("none"),
      "none | row_wise | row_wise_cyclic | table_wise | column_wise | data_parallel\n"
      "(sharded ones under mpirun)")("no-dedup", po::bool_switch(&s.no_dedup),
                                     "send every id, not every distinct id")(
      "device", po::value(&s.device)->default_value("cpu"),
      "cpu | cuda: where the tables live; cuda also measures the GPU's copy bandwidth and "
      "reports the step's bytes as a fraction of it");
  try {
    if (!bench::parse_command_line(argc, argv, options)) return 0;
    bench::check_workload_sizes(s);
    return run(s);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "rowshard-bench: %s\n", error_text(error).c_str());
    return 2;
  }
}
