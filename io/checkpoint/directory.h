// Naming and finding checkpoints under a root directory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

namespace rowshard::checkpoint {

// "ckpt-000500" for step 500.
std::string checkpoint_name(int64_t step);

// The complete checkpoints under `root` (directories named ckpt-<step> that
// hold a MANIFEST.json), oldest step first. `.tmp` directories are not
// complete and are left out.
std::vector<std::filesystem::path> complete_checkpoints(const std::filesystem::path& root);

// The complete checkpoint with the highest step, if any.
std::optional<std::filesystem::path> latest_checkpoint(const std::filesystem::path& root);

// Resolves "latest" (the newest complete checkpoint under `root`) or a
// directory path. Throws IoError when there is none.
std::filesystem::path resolve_checkpoint(const std::filesystem::path& root,
                                         const std::string& which);

}  // namespace rowshard::checkpoint
