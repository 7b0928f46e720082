// rowshard-train --config FILE.yaml [--resume latest|DIR] [--set key=value ...]
//
// Trains the DLRM-style click model of the config, with its embedding
// tables sharded across the ranks it runs on (mpirun -np N, or alone).
// Rank 0 prints the effective config, the sharding plan, progress, and a
// final one-line JSON summary. Any rank's error ends the whole job with
// that rank's message and a non-zero exit. Without --resume, a
// checkpoint.dir that already holds checkpoints is refused at start.
#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>

#include "rowshard/engine/error.h"
#include "rowshard/engine/malloc_tuning.h"
#include "rowshard/sharding/communicator.h"
#include "training/checkpoint_dir_check.h"
#include "training/config/job_config.h"
#include "training/trainer.h"

namespace po = boost::program_options;

int main(int argc, char** argv) {
  rowshard::keep_freed_memory_for_reuse();
  std::string config_path;
  std::optional<std::string> resume;
  std::vector<std::string> overrides;
  po::options_description options(
      "usage: rowshard-train --config FILE.yaml [--resume latest|DIR] [--set key=value ...]\n"
      "options");
  options.add_options()("help", "show this help")("config", po::value(&config_path)->required(),
                                                  "the job's YAML config")(
      "resume", po::value<std::string>(), "continue from a checkpoint: latest or a directory")(
      "set", po::value(&overrides)->composing(), "override a config key: key=value (repeatable)");
  try {
    po::variables_map given;
    po::store(po::parse_command_line(argc, argv, options), given);
    if (given.count("help")) {
      std::cout << options << "\n";
      return 0;
    }
    po::notify(given);
    if (given.count("resume")) resume = given["resume"].as<std::string>();
  } catch (const po::error& error) {
    std::fprintf(stderr, "rowshard-train: %s\n%s", error.what(),
                 (std::ostringstream() << options).str().c_str());
    return 2;
  }

  auto comm = rowshard::world_communicator();
  try {
    // Every rank reads the config, so every rank refuses a bad one alike.
    const rowshard::config::JobConfig job =
        rowshard::config::load_job_config(config_path, overrides);
    rowshard::refuse_used_checkpoint_dir(job, resume.has_value());
    if (comm->rank() == 0)
      std::printf("rowshard-train: %d rank(s), config %s\n---\n%s\n---\n", comm->size(),
                  config_path.c_str(), job.effective_yaml.c_str());
    rowshard::Trainer trainer(job, *comm);
    const rowshard::TrainingSummary summary = trainer.run(resume);
    if (comm->rank() == 0) std::printf("%s\n", summary.to_json().c_str());
    return 0;
  } catch (const rowshard::CollectiveTimeout& error) {
    std::fflush(stdout);
    std::fprintf(stderr, "rowshard-train (rank %d): %s (comm_timeout_s = %g)\n", comm->rank(),
                 error.what(), comm->timeout_seconds());
    comm->abort(1);
  } catch (const std::exception& error) {
    std::fflush(stdout);
    std::fprintf(stderr, "rowshard-train (rank %d): %s\n", comm->rank(),
                 rowshard::error_text(error).c_str());
    // Errors the ranks agreed on end every rank here anyway; any other one
    // (a rank alone in trouble) must not leave the others waiting.
    comm->abort(1);
    return 1;
  }
}
