// Which checkpoints under a root one run answers for, so that keep_last
// removes only what the run has superseded.
//
// A run's lineage is the checkpoints it has saved itself, newest first,
// then, when it resumed from a checkpoint of the same root, that checkpoint
// and the ones before it, newest first. keep_last keeps the first keep_last
// of the lineage, so a save never removes the checkpoint it has just
// written, and a run rolled back to an older checkpoint leaves alone the
// later checkpoints of the timeline it abandoned (it replaces each one
// atomically as it saves that step).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

namespace rowshard::checkpoint {

class CheckpointHistory {
 public:
  // A run from scratch: its lineage is its own saves.
  CheckpointHistory() = default;

  // A run resumed from `checkpoint` (a directory ckpt-<step>), which holds
  // `step`.
  CheckpointHistory(std::filesystem::path checkpoint, int64_t step);

  // Records that this run has saved the checkpoint at `step`.
  void record_save(int64_t step);

  // The complete checkpoints under `root` in this run's lineage, newest
  // first, counting `just_saved` as saved by this run.
  std::vector<std::filesystem::path> lineage(const std::filesystem::path& root,
                                             int64_t just_saved) const;

  // The complete checkpoints under `root` outside this run's lineage,
  // oldest first: after a rollback, the later steps of the abandoned
  // timeline that this run has not yet replaced.
  std::vector<std::filesystem::path> outside_lineage(const std::filesystem::path& root) const;

 private:
  bool saved(int64_t step) const;
  bool before_resume(const std::filesystem::path& root, int64_t step) const;

  std::optional<std::filesystem::path> resumed_root_;
  int64_t resumed_step_ = 0;
  std::vector<int64_t> saved_steps_;
};

}  // namespace rowshard::checkpoint
