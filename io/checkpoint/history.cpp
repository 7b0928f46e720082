#include "rowshard/io/checkpoint/history.h"

#include <algorithm>

#include "rowshard/io/checkpoint/directory.h"

namespace rowshard::checkpoint {

CheckpointHistory::CheckpointHistory(std::filesystem::path checkpoint, int64_t step)
    : resumed_root_(checkpoint.parent_path()), resumed_step_(step) {}

void CheckpointHistory::record_save(int64_t step) { saved_steps_.push_back(step); }

bool CheckpointHistory::saved(int64_t step) const {
  return std::find(saved_steps_.begin(), saved_steps_.end(), step) != saved_steps_.end();
}

bool CheckpointHistory::before_resume(const std::filesystem::path& root, int64_t step) const {
  if (!resumed_root_ || step > resumed_step_) return false;
  std::error_code not_comparable;  // a root that does not exist is not the same root
  return std::filesystem::equivalent(*resumed_root_, root, not_comparable);
}

std::vector<std::filesystem::path> CheckpointHistory::lineage(const std::filesystem::path& root,
                                                              int64_t just_saved) const {
  std::vector<std::filesystem::path> own, earlier;
  const std::vector<std::filesystem::path> complete = complete_checkpoints(root);
  for (auto at = complete.rbegin(); at != complete.rend(); ++at) {
    const int64_t step = *checkpoint_step(*at);
    if (step == just_saved || saved(step))
      own.push_back(*at);
    else if (before_resume(root, step))
      earlier.push_back(*at);
  }
  own.insert(own.end(), earlier.begin(), earlier.end());
  return own;
}

std::vector<std::filesystem::path> CheckpointHistory::outside_lineage(
    const std::filesystem::path& root) const {
  std::vector<std::filesystem::path> outside;
  for (const std::filesystem::path& checkpoint : complete_checkpoints(root)) {
    const int64_t step = *checkpoint_step(checkpoint);
    if (!saved(step) && !before_resume(root, step)) outside.push_back(checkpoint);
  }
  return outside;
}

}  // namespace rowshard::checkpoint
