// The job's examples, from its `data` config: endless training batches from
// synthetic click logs or tab-separated files, and the held-out set.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "rowshard/sharding/communicator.h"
#include "training/config/job_config.h"
#include "training/data/example_batch.h"

namespace rowshard {

// This rank's share of the held-out examples.
struct HeldOutSet {
  ExampleBatch batch;
  // Synthetic data: each example's planted click probability, for the AUC
  // of the true model (the ceiling). Empty for tab-separated data.
  std::vector<float> planted_probability;
  // Tab-separated data: the malformed lines left out, which every rank
  // meets alike.
  int64_t skipped_lines = 0;
};

struct DataSources {
  std::unique_ptr<BatchSource> train;  // this rank's share of each batch
  HeldOutSet held_out;
  int64_t num_dense = 0;  // dense features per example
};

// Ids index the rows of each feature's table in `job`. Throws what the
// sources throw (an unreadable file, a malformed line the job may not skip).
DataSources open_data_sources(const config::JobConfig& job, const Communicator& comm);

}  // namespace rowshard
