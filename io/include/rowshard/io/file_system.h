// The file-system seam: every file a checkpoint writes goes through this
// interface, so a test can make any write, fsync, rename or exchange fail and check
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
  virtual void rename(const std::filesystem::path& from, const std::filesystem::path& to) = 0;

  // Swaps two existing entries of one file system atomically (Linux's
  // renameat2 with RENAME_EXCHANGE): at every moment each name holds one of
  // the two, whole. Throws IoError naming both paths.
  virtual void exchange(const std::filesystem::path& first,
                        const std::filesystem::path& second) = 0;

  // fsyncs a directory, making the entries created or renamed in it durable.
  virtual void sync_directory(const std::filesystem::path& path) = 0;

  virtual void remove_all(const std::filesystem::path& path) = 0;
};

// The real file system (POSIX calls).
FileSystem& local_file_system();

}  // namespace rowshard
