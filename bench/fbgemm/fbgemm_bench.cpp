// fbgemm-bench: FBGEMM's CPU kernels on exactly rowshard-bench's workload
// (same flags, id generator, seeds and gradients), so bench/compare_fbgemm.py
// can set the two side by side in one run. Prints one JSON object; its
// build_seconds is the time to allocate and fill the tables (not the N(0, 1)
// draw rowshard's build_seconds includes).
//
//   fbgemm-bench --rows 4000000 --dim 64 --batch 65536 --pooling-factor 40
//                --dist zipf:1.05 --op train --threads 2 --seed 1 --repeat 5
//
// forward: EmbeddingSpMDM (fp32, sum, prefetch 16) over every table.
// train:   that forward, then rowwise_sparse_adagrad_fused with the bags'
//          output gradients (lr 0.01, eps 1e-8: rowshard's defaults).
// Only fp32 tables and sum pooling: the kernels rowshard's f32 sum path is
// measured against. Tables live in the same memory as rowshard's
// (RowStorage: huge pages), so the comparison is of the kernels alone.
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>

#include "bench/command_line.h"
#include "bench/fbgemm/fbgemm_kernels.h"
#include "bench/workload.h"
#include "bench/workload_flags.h"
#include "engine/stopwatch.h"
#include "rowshard/engine/error.h"
#include "rowshard/engine/malloc_tuning.h"
#include "rowshard/engine/row_storage.h"

namespace {

using namespace rowshard;

constexpr float kLearningRate = 0.01f;
constexpr float kEps = 1e-8f;

struct Table {
  RowStorage weights;  // [rows, dim]
  RowStorage state;    // [rows]: row-wise Adagrad's sum of mean squares
  std::vector<int64_t> ids;
};

// Values in [-1, 1) from the element's index: the kernels' speed does not
// depend on them, and a parallel fill keeps the setup short.
void fill(RowStorage& storage, uint64_t seed) {
  float* values = storage.mutable_row<float>(0);
  const int64_t count = storage.num_rows() * storage.dim();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < count; ++i) {
    uint64_t x = (seed << 40) ^ static_cast<uint64_t>(i);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    values[i] = static_cast<float>(x >> 40) * 0x1p-23f - 1.0f;
  }
}

// A few bags against a plain sum, so a misread offset or stride cannot pass
// for a fast kernel.
void check_forward(const Table& table, int64_t table_index, const bench::WorkloadFlags& s,
                   const std::vector<float>& output) {
  const int64_t row_stride = s.tables * s.dim;
  for (int64_t b = 0; b < s.batch; b += std::max<int64_t>(1, s.batch / 7)) {
    for (int64_t c = 0; c < s.dim; ++c) {
      double sum = 0.0;
      for (int64_t j = 0; j < s.pooling_factor; ++j)
        sum += table.weights.row<float>(table.ids[b * s.pooling_factor + j])[c];
      const float got = output[b * row_stride + table_index * s.dim + c];
      if (std::abs(got - sum) > 1e-4 * (1.0 + std::abs(sum)))
        throw Error(message("FBGEMM's forward gave ", got, " for bag ", b, " column ", c,
                            " of table ", table_index, "; a plain sum gives ", sum));
    }
  }
}

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux: KiB
}

int run(const bench::WorkloadFlags& s) {
  if (s.mode != "sum") throw InvalidArgument(message("--mode '", s.mode, "': only sum"));
  if (s.dtype != "f32") throw InvalidArgument(message("--dtype '", s.dtype, "': only f32"));
  if (s.op != "forward" && s.op != "train")
    throw InvalidArgument(message("--op '", s.op, "' is not forward or train"));
  const bench::IdDistribution distribution = bench::IdDistribution::parse(s.dist);
  omp_set_num_threads(s.threads);

  // Seeds as rowshard-bench's (rank 0), so both sides see the same ids.
  std::vector<Table> tables;
  const auto build_start = SteadyClock::now();
  for (int64_t t = 0; t < s.tables; ++t) {
    Table table{RowStorage::allocate(s.rows, s.dim, DType::f32),
                RowStorage::allocate(s.rows, 1, DType::f32),
                bench::generate_ids(s.rows, s.batch * s.pooling_factor, distribution,
                                    (s.seed * 1000 + t) * 1000)};
    fill(table.weights, s.seed + t);
    tables.push_back(std::move(table));
  }
  const double build_seconds = seconds_since(build_start);
  std::vector<int64_t> offsets(s.batch + 1);
  for (int64_t b = 0; b <= s.batch; ++b) offsets[b] = b * s.pooling_factor;

  std::mt19937_64 rng(s.seed);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::vector<float> grad_output(s.batch * s.tables * s.dim);
  for (float& g : grad_output) g = unit(rng) * 1e-3f;

  // One [batch, tables * dim] output, as rowshard's; made once, since every
  // step overwrites all of it.
  const bench::FbgemmKernels kernels(s.dim, s.tables * s.dim);
  std::vector<float> output(s.batch * s.tables * s.dim);
  auto forward = [&] {
    for (int64_t t = 0; t < s.tables; ++t)
      kernels.forward(tables[t].weights.row<float>(0), s.rows,
                      {tables[t].ids, offsets, s.batch, s.pooling_factor},
                      output.data() + t * s.dim);
  };
  auto step = [&] {
    for (int64_t t = 0; t < s.tables; ++t)
      kernels.fused_adagrad_step(tables[t].weights.mutable_row<float>(0),
                                 tables[t].state.mutable_row<float>(0), s.rows,
                                 {tables[t].ids, offsets, s.batch, s.pooling_factor},
                                 grad_output.data() + t * s.dim, kLearningRate, kEps);
  };

  forward();
  for (int64_t t = 0; t < s.tables; ++t) check_forward(tables[t], t, s, output);

  std::vector<double> seconds;
  for (int i = 0; i <= s.repeat; ++i) {
    const auto start = SteadyClock::now();
    forward();
    if (s.op == "train") step();
    const double elapsed = seconds_since(start);
    if (i > 0) seconds.push_back(elapsed);  // the first is a warm-up
  }
  nlohmann::ordered_json result =
      bench::workload_result("fbgemm", s, std::string(distribution.name()), seconds);
  const double median = result["seconds_median"];
  const double lookups = static_cast<double>(s.batch * s.pooling_factor * s.tables);
  result.update(nlohmann::ordered_json{
      {"mlookups_per_s", lookups / median / 1e6},
      {"gb_per_s", lookups * static_cast<double>(s.dim * sizeof(float)) / median / 1e9},
      {"peak_rss_mb", peak_rss_mb()},
      {"build_seconds", build_seconds},
      {"kernels", s.op == "train"
                      ? "EmbeddingSpMDM + rowwise_sparse_adagrad_fused (lr 0.01, eps 1e-8)"
                      : "EmbeddingSpMDM"}});
  std::printf("%s\n", result.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory_for_reuse();
  bench::WorkloadFlags s;
  boost::program_options::options_description options("usage: fbgemm-bench [OPTIONS]\noptions");
  options.add_options()("help", "show this help");
  bench::add_workload_options(options, s);
  try {
    if (!bench::parse_command_line(argc, argv, options)) return 0;
    bench::check_workload_sizes(s);
    return run(s);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "fbgemm-bench: %s\n", error_text(error).c_str());
    return 2;
  }
}
