// step-phases: where one table's fused training step spends its time, on
// rowshard-bench's workload (same ids for the same --seed).
//
//   step-phases --rows 4000000 --dim 64 --batch 65536 --pooling-factor 40
//               --dist uniform --dtype f32 --threads 2 --repeat 11
//
// Times, each `repeat` times after a warm-up: the forward (pooling), the
// backward plan (grouping the entries by chunk of rows), the grouping pass
// alone (each chunk's entries grouped by row, as the sum-pooled fp32 step
// does before row-wise Adagrad sums and updates each row in one pass), and
// the whole backward (plan, grouping, summing and updating, Table::step).
// Prints one JSON object with each phase's median and fastest seconds;
// "update" is the backward's median less the plan's and the grouping's:
// the rows' sums and updates.
//
// For fp32 tables it also times, in the same loop, the plain loops of
// bench/plain_loops.h on the same rows: "plain_forward" gathers every
// looked-up row of a table the same size, "plain_gradient" every entry's
// upstream row in the order of its row, "plain_update" reads and rewrites
// each touched row. "plain_step" adds the plan to them (the plan is itself
// a plain counting sort), to set against "step", the forward plus the
// backward.
#include <omp.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <numeric>
#include <random>
#include <span>

#include <nlohmann/json.hpp>

#include "bench/command_line.h"
#include "bench/plain_loops.h"
#include "bench/workload.h"
#include "engine/cpu/backward.h"
#include "engine/cpu/pooling.h"
#include "engine/stopwatch.h"
#include "rowshard/engine/embedding_bag.h"
#include "rowshard/engine/error.h"
#include "rowshard/engine/malloc_tuning.h"
#include "rowshard/engine/optimizers/rowwise_adagrad.h"
#include "rowshard/engine/row_storage.h"

namespace {

namespace po = boost::program_options;
using namespace rowshard;

struct Settings {
  int64_t rows, dim, batch, pooling_factor;
  std::string dist, dtype;
  int threads, repeat;
  uint64_t seed;
};

// Groups every chunk's entries by row and forgets them: the grouping's own
// cost.
class DiscardingSink final : public cpu::RowUpstreamSink {
 public:
  void consume(const cpu::RowUpstreamBlock& block) override {
    asm volatile("" : : "r"(block.upstream.data()) : "memory");
  }
};

double seconds_of(const std::function<void()>& phase) {
  const auto start = SteadyClock::now();
  phase();
  return seconds_since(start);
}

int run(const Settings& s) {
  omp_set_num_threads(s.threads);
  const int64_t lookups = s.batch * s.pooling_factor;
  // rowshard-bench's ids for table 0 of a one-rank run with this seed.
  const std::vector<int64_t> ids = bench::generate_ids(
      s.rows, lookups, bench::IdDistribution::parse(s.dist), s.seed * 1000 * 1000);
  std::vector<int64_t> bounds(s.batch + 1);
  for (int64_t b = 0; b <= s.batch; ++b) bounds[b] = b * s.pooling_factor;
  const PooledBatch batch{ids, bounds, {}, PoolingMode::sum, kNoPadding};

  EmbeddingBagOptions options;
  options.num_embeddings = s.rows;
  options.embedding_dim = s.dim;
  options.mode = PoolingMode::sum;
  options.dtype = bench::parse_dtype(s.dtype);
  options.seed = s.seed;
  EmbeddingBag table(options);
  std::mt19937_64 rng(s.seed);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::vector<float> grad_output(s.batch * s.dim);
  for (float& g : grad_output) g = unit(rng) * 1e-3f;
  RowWiseAdagrad optimizer(s.rows, s.dim, {});

  std::vector<float> output(s.batch * s.dim);
  GradientSource source;
  source.batch = batch;
  source.grad_output = grad_output.data();
  source.stride = s.dim;
  cpu::BackwardPlan plan;
  DiscardingSink discard;

  // The plain loops' inputs: a second table of the same size (huge pages, like
  // the real one), the bags of the entries in the order of their rows, and
  // the touched rows.
  const bool with_plain_loops = options.dtype == DType::f32;
  RowStorage plain_table;
  std::vector<int64_t> bags_by_row;
  std::vector<int64_t> touched_rows;
  if (with_plain_loops) {
    plain_table = RowStorage::allocate(s.rows, s.dim, DType::f32);
    std::vector<int64_t> entries(lookups);
    std::iota(entries.begin(), entries.end(), 0);
    std::stable_sort(entries.begin(), entries.end(),
                     [&](int64_t a, int64_t b) { return ids[a] < ids[b]; });
    bags_by_row.resize(lookups);
    for (int64_t i = 0; i < lookups; ++i) bags_by_row[i] = entries[i] / s.pooling_factor;
    plan.build({&source, 1}, s.rows, s.dim, false);
    touched_rows = plan.touched_rows();
  }
  auto plain_rows = [&] {
    return std::span(plain_table.mutable_row<float>(0), static_cast<std::size_t>(s.rows * s.dim));
  };

  std::map<std::string, std::vector<double>> seconds;
  float checksum = 0.0f;
  for (int i = 0; i <= s.repeat; ++i) {
    const double forward =
        seconds_of([&] { cpu::pooled_forward(table.weights(), batch, output, {}); });
    const double build = seconds_of([&] { plan.build({&source, 1}, s.rows, s.dim, false); });
    const double grouping = seconds_of([&] { cpu::for_each_row_upstream(plan, discard); });
    const double backward = seconds_of([&] { table.step({&source, 1}, optimizer); });
    double plain_forward = 0, plain_gradient = 0, plain_update = 0;
    if (with_plain_loops) {
      plain_forward = seconds_of([&] { checksum += bench::gather_rows(plain_rows(), s.dim, ids); });
      plain_gradient =
          seconds_of([&] { checksum += bench::gather_rows(grad_output, s.dim, bags_by_row); });
      plain_update = seconds_of([&] { bench::rewrite_rows(plain_rows(), s.dim, touched_rows); });
    }
    if (i == 0) continue;  // warm-up
    seconds["forward"].push_back(forward);
    seconds["plan"].push_back(build);
    seconds["grouping"].push_back(grouping);
    seconds["backward"].push_back(backward);
    seconds["step"].push_back(forward + backward);
    if (with_plain_loops) {
      seconds["plain_forward"].push_back(plain_forward);
      seconds["plain_gradient"].push_back(plain_gradient);
      seconds["plain_update"].push_back(plain_update);
      seconds["plain_step"].push_back(plain_forward + build + plain_gradient + plain_update);
    }
  }
  volatile float keep = checksum;  // the plain loops' reads are used
  (void)keep;
  nlohmann::ordered_json result = {{"rows", s.rows},       {"dim", s.dim},
                                   {"batch", s.batch},     {"pooling_factor", s.pooling_factor},
                                   {"dist", s.dist},       {"dtype", s.dtype},
                                   {"threads", s.threads}, {"repeat", s.repeat}};
  std::map<std::string, double> medians;
  for (const char* phase : {"forward", "plan", "grouping", "backward", "step", "plain_forward",
                            "plain_gradient", "plain_update", "plain_step"}) {
    if (!seconds.contains(phase)) continue;
    std::vector<double>& times = seconds[phase];
    std::sort(times.begin(), times.end());
    medians[phase] = times[times.size() / 2];
    result[phase] = {{"median", medians[phase]}, {"min", times.front()}};
  }
  result["update"] = {{"median", medians["backward"] - medians["plan"] - medians["grouping"]}};
  std::cout << result.dump() << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory_for_reuse();
  Settings s;
  po::options_description options("usage: step-phases [OPTIONS]\noptions");
  options.add_options()("help", "show this help")(
      "rows", po::value(&s.rows)->default_value(4'000'000), "rows of the table")(
      "dim", po::value(&s.dim)->default_value(64), "embedding dim")(
      "batch", po::value(&s.batch)->default_value(65536), "bags")(
      "pooling-factor", po::value(&s.pooling_factor)->default_value(40), "ids per bag")(
      "dist", po::value(&s.dist)->default_value("uniform"), "uniform | zipf:ALPHA")(
      "dtype", po::value(&s.dtype)->default_value("f32"), "f32 | f16 | bf16 (table storage)")(
      "threads", po::value(&s.threads)->default_value(omp_get_num_procs()), "OpenMP threads")(
      "seed", po::value(&s.seed)->default_value(1), "seed of ids and weights")(
      "repeat", po::value(&s.repeat)->default_value(11), "timed repetitions");
  try {
    if (!bench::parse_command_line(argc, argv, options)) return 0;
    if (s.rows < 1 || s.dim < 1 || s.batch < 1 || s.pooling_factor < 0 || s.threads < 1 ||
        s.repeat < 1)
      throw InvalidArgument("sizes, threads and repeat must be positive");
    return run(s);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "step-phases: %s\n", error_text(error).c_str());
    return 2;
  }
}
