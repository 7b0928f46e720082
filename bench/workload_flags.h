// The command-line flags that describe rowshard-bench's workload, shared with
// fbgemm-bench so that one command line means the same batch to both.
#pragma once

#include <boost/program_options.hpp>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace rowshard::bench {

struct WorkloadFlags {
  int64_t rows, dim, batch, pooling_factor, tables;
  std::string mode, dtype, dist, op;
  int threads, repeat;
  uint64_t seed;
};

// Adds --rows, --dim, --batch, --pooling-factor, --tables, --mode, --dtype,
// --dist, --op, --threads, --seed and --repeat, parsed into `flags`.
void add_workload_options(boost::program_options::options_description& options,
                          WorkloadFlags& flags);

// The JSON result's head both benchmarks print: the engine, the workload
// (dist as the distribution names itself), and the step times' median,
// min, max and all of them.
nlohmann::ordered_json workload_result(const std::string& engine, const WorkloadFlags& flags,
                                       const std::string& dist, const std::vector<double>& seconds);

// Throws InvalidArgument unless the sizes, threads and repeat are positive
// (the pooling factor may be 0: empty bags).
void check_workload_sizes(const WorkloadFlags& flags);

}  // namespace rowshard::bench
