// Naming and finding checkpoints under a root directory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace rowshard::checkpoint {

// "ckpt-000500" for step 500.
std::string checkpoint_name(int64_t step);

// The step of a directory named ckpt-<step>; nullopt for any other name
// (ckpt-000500.tmp included).
std::optional<int64_t> checkpoint_step(const std::filesystem::path& directory);

// The complete checkpoints under `root` (directories named ckpt-<step> that
// hold a MANIFEST.json), oldest step first. `.tmp` directories are not
// complete and are left out.
std::vector<std::filesystem::path> complete_checkpoints(const std::filesystem::path& root);

// The complete checkpoint with the highest step, if any.
std::optional<std::filesystem::path> latest_checkpoint(const std::filesystem::path& root);

// "2 checkpoints (ckpt-002000 .. ckpt-003000)" for `checkpoints` (oldest
// first, as complete_checkpoints gives them), for messages.
std::string describe_checkpoints(const std::vector<std::filesystem::path>& checkpoints);

// Resolves "latest" (the newest complete checkpoint under `root`) or a
// directory path. Throws IoError when there is none.
std::filesystem::path resolve_checkpoint(const std::filesystem::path& root,
                                         const std::string& which);

}  // namespace rowshard::checkpoint
