// A FileSystem that fails on purpose: operation number `fail_at` (counting
// every create, write, fsync, rename, exchange, directory sync and remove from 0)
// throws IoError, and a failing write leaves half the file behind, as a
// crash in the middle of write() would. Operations before it really happen.
#pragma once

#include <vector>

#include "rowshard/engine/error.h"
#include "rowshard/io/file_system.h"

namespace rowshard::testing {

class FaultyFileSystem final : public FileSystem {
 public:
  explicit FaultyFileSystem(int64_t fail_at) : fail_at_(fail_at) {}

  int64_t operations() const { return count_; }

  void create_directories(const std::filesystem::path& path) override {
    step("create_directories", path);
    local_file_system().create_directories(path);
  }

  void write_file(const std::filesystem::path& path,
                  std::span<const std::span<const std::byte>> parts) override {
    std::vector<std::byte> all;
    for (auto part : parts) all.insert(all.end(), part.begin(), part.end());
    if (count_ == fail_at_) {
      const std::span<const std::byte> half[] = {std::span(all).first(all.size() / 2)};
      local_file_system().write_file(path, half);
    }
    step("write", path);
    step("fsync", path);
    const std::span<const std::byte> whole[] = {all};
    local_file_system().write_file(path, whole);
  }

  void rename(const std::filesystem::path& from, const std::filesystem::path& to) override {
    step("rename", from);
    local_file_system().rename(from, to);
  }

  void exchange(const std::filesystem::path& first, const std::filesystem::path& second) override {
    step("exchange", first);
    local_file_system().exchange(first, second);
  }

  void sync_directory(const std::filesystem::path& path) override {
    step("sync_directory", path);
    local_file_system().sync_directory(path);
  }

  void remove_all(const std::filesystem::path& path) override {
    step("remove_all", path);
    local_file_system().remove_all(path);
  }

 private:
  void step(const char* operation, const std::filesystem::path& path) {
    if (count_++ == fail_at_)
      throw IoError(message("injected failure of ", operation, " on '", path.string(), "'"));
  }

  int64_t fail_at_;
  int64_t count_ = 0;
};

}  // namespace rowshard::testing
