// The job's rule for its checkpoint.dir at start: a run from scratch never
// mixes its checkpoints with another run's.
#pragma once

#include "training/config/job_config.h"

namespace rowshard {

// Throws InvalidArgument when `job` starts from scratch (`resuming` false)
// and its checkpoint.dir already holds complete checkpoints; the message
// names them and the two ways on (--resume latest, or another
// checkpoint.dir). Leftover .tmp directories of a crashed save are not
// checkpoints and do not count. Every rank reads the same directory, so
// every rank refuses alike; call it before any work.
void refuse_used_checkpoint_dir(const config::JobConfig& job, bool resuming);

}  // namespace rowshard
