#include "training/checkpoint_dir_check.h"

#include "rowshard/engine/error.h"
#include "rowshard/io/checkpoint/directory.h"

namespace rowshard {

void refuse_used_checkpoint_dir(const config::JobConfig& job, bool resuming) {
  if (resuming || job.checkpoint_dir.empty()) return;
  const std::vector<std::filesystem::path> found =
      checkpoint::complete_checkpoints(job.checkpoint_dir);
  if (found.empty()) return;
  throw InvalidArgument(
      message("checkpoint.dir '", job.checkpoint_dir, "' already holds ",
              checkpoint::describe_checkpoints(found), ", the newest at step ",
              *checkpoint::checkpoint_step(found.back()),
              ": continue it with --resume latest, or set another checkpoint.dir"));
}

}  // namespace rowshard
