#include "bench/workload_flags.h"

#include <algorithm>

#include <omp.h>

#include "rowshard/engine/error.h"

namespace rowshard::bench {

void add_workload_options(boost::program_options::options_description& options,
                          WorkloadFlags& flags) {
  namespace po = boost::program_options;
  options.add_options()("rows", po::value(&flags.rows)->default_value(1'000'000), "rows per table")(
      "dim", po::value(&flags.dim)->default_value(64), "embedding dim")(
      "batch", po::value(&flags.batch)->default_value(16384), "bags per feature")(
      "pooling-factor", po::value(&flags.pooling_factor)->default_value(40), "ids per bag")(
      "tables", po::value(&flags.tables)->default_value(1), "tables, one feature each")(
      "mode", po::value(&flags.mode)->default_value("sum"), "sum | mean | max")(
      "dtype", po::value(&flags.dtype)->default_value("f32"), "f32 | f16 | bf16")(
      "dist", po::value(&flags.dist)->default_value("uniform"), "uniform | zipf:ALPHA")(
      "op", po::value(&flags.op)->default_value("forward"), "forward | train")(
      "threads", po::value(&flags.threads)->default_value(omp_get_num_procs()), "OpenMP threads")(
      "seed", po::value(&flags.seed)->default_value(1), "seed of ids and weights")(
      "repeat", po::value(&flags.repeat)->default_value(5), "timed steps");
}

void check_workload_sizes(const WorkloadFlags& flags) {
  if (flags.rows < 1 || flags.dim < 1 || flags.batch < 1 || flags.pooling_factor < 0 ||
      flags.tables < 1 || flags.threads < 1 || flags.repeat < 1)
    throw InvalidArgument("sizes, threads and repeat must be positive");
}

nlohmann::ordered_json workload_result(const std::string& engine, const WorkloadFlags& flags,
                                       const std::string& dist,
                                       const std::vector<double>& seconds) {
  std::vector<double> sorted = seconds;
  std::sort(sorted.begin(), sorted.end());
  return {{"engine", engine},
          {"op", flags.op},
          {"rows", flags.rows},
          {"dim", flags.dim},
          {"batch", flags.batch},
          {"pooling_factor", flags.pooling_factor},
          {"tables", flags.tables},
          {"mode", flags.mode},
          {"dtype", flags.dtype},
          {"dist", dist},
          {"threads", flags.threads},
          {"repeat", flags.repeat},
          {"seconds_median", sorted[sorted.size() / 2]},
          {"seconds_min", sorted.front()},
          {"seconds_max", sorted.back()},
          {"seconds_all", seconds}};
}

}  // namespace rowshard::bench
