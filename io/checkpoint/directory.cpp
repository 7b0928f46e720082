#include "rowshard/io/checkpoint/directory.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "rowshard/engine/error.h"

namespace rowshard::checkpoint {

std::optional<int64_t> checkpoint_step(const std::filesystem::path& directory) {
  const std::string name = directory.filename().string();
  constexpr std::string_view kPrefix = "ckpt-";
  if (!name.starts_with(kPrefix) || name.size() == kPrefix.size()) return std::nullopt;
  int64_t step = 0;
  const char* first = name.data() + kPrefix.size();
  const char* last = name.data() + name.size();
  const auto [end, error] = std::from_chars(first, last, step);
  if (error != std::errc() || end != last || step < 0) return std::nullopt;
  return step;
}

std::string checkpoint_name(int64_t step) {
  char name[32];
  std::snprintf(name, sizeof name, "ckpt-%06lld", static_cast<long long>(step));
  return name;
}

std::vector<std::filesystem::path> complete_checkpoints(const std::filesystem::path& root) {
  std::vector<std::pair<int64_t, std::filesystem::path>> found;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(root, error)) {
    const std::optional<int64_t> step = checkpoint_step(entry.path());
    if (step && std::filesystem::is_regular_file(entry.path() / "MANIFEST.json"))
      found.emplace_back(*step, entry.path());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::filesystem::path> paths;
  for (auto& [step, path] : found) paths.push_back(std::move(path));
  return paths;
}

std::optional<std::filesystem::path> latest_checkpoint(const std::filesystem::path& root) {
  std::vector<std::filesystem::path> all = complete_checkpoints(root);
  if (all.empty()) return std::nullopt;
  return all.back();
}

std::string describe_checkpoints(const std::vector<std::filesystem::path>& checkpoints) {
  if (checkpoints.empty()) return "no checkpoints";
  if (checkpoints.size() == 1)
    return message("1 checkpoint (", checkpoints[0].filename().string(), ")");
  return message(checkpoints.size(), " checkpoints (", checkpoints.front().filename().string(),
                 " .. ", checkpoints.back().filename().string(), ")");
}

std::filesystem::path resolve_checkpoint(const std::filesystem::path& root,
                                         const std::string& which) {
  if (which != "latest") return which;
  const std::optional<std::filesystem::path> latest = latest_checkpoint(root);
  if (!latest)
    throw IoError(message("no complete checkpoint under '", root.string(), "' to resume from"));
  return *latest;
}

}  // namespace rowshard::checkpoint
