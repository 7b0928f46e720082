// The file-system seam: every file a checkpoint writes goes through this
// interface, so a test can make any write, fsync or rename fail and check
// that nothing already on disk is lost (LevelDB's Env, in small).
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>

namespace rowshard {

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // Creates `path` and any missing parents.
  virtual void create_directories(const std::filesystem::path& path) = 0;

  // Writes `parts`, one after another, to a new file at `path` (replacing
  // one that exists), then fsyncs it. Throws IoError naming the path.
  virtual void write_file(const std::filesystem::path& path,
                          std::span<const std::span<const std::byte>> parts) = 0;

  // Renames atomically (POSIX rename).
  virtual void rename(const std::filesystem::path& from,
                      const std::filesystem::path& to) = 0;

  // fsyncs a directory, making the entries created or renamed in it durable.
  virtual void sync_directory(const std::filesystem::path& path) = 0;

  virtual void remove_all(const std::filesystem::path& path) = 0;
};

// The real file system (POSIX calls).
FileSystem& local_file_system();

}  // namespace rowshard
