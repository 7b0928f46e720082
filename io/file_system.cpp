#include "rowshard/io/file_system.h"

#include <fcntl.h>
#include <stdio.h>  // renameat2
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "rowshard/engine/error.h"

namespace rowshard {
namespace {

[[noreturn]] void fail(std::string_view what, const std::filesystem::path& path) {
  throw IoError(message(what, " '", path.string(), "': ", std::strerror(errno)));
}

class PosixFileSystem final : public FileSystem {
 public:
  void create_directories(const std::filesystem::path& path) override {
    std::error_code error;
    std::filesystem::create_directories(path, error);
    if (error)
      throw IoError(message("cannot create directory '", path.string(), "': ", error.message()));
  }

  void write_file(const std::filesystem::path& path,
                  std::span<const std::span<const std::byte>> parts) override {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) fail("cannot create", path);
    for (std::span<const std::byte> part : parts) {
      while (!part.empty()) {
        const ssize_t written = ::write(fd, part.data(), part.size());
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) {
          ::close(fd);
          fail("cannot write", path);
        }
        part = part.subspan(static_cast<std::size_t>(written));
      }
    }
    if (::fsync(fd) != 0) {
      ::close(fd);
      fail("cannot fsync", path);
    }
    if (::close(fd) != 0) fail("cannot close", path);
  }

  void rename(const std::filesystem::path& from, const std::filesystem::path& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0)
      throw IoError(message("cannot rename '", from.string(), "' to '", to.string(),
                            "': ", std::strerror(errno)));
  }

  void exchange(const std::filesystem::path& first, const std::filesystem::path& second) override {
    if (::renameat2(AT_FDCWD, first.c_str(), AT_FDCWD, second.c_str(), RENAME_EXCHANGE) != 0)
      throw IoError(message("cannot exchange '", first.string(), "' and '", second.string(),
                            "': ", std::strerror(errno)));
  }

  void sync_directory(const std::filesystem::path& path) override {
    const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) fail("cannot open directory", path);
    const int synced = ::fsync(fd);
    ::close(fd);
    if (synced != 0) fail("cannot fsync directory", path);
  }

  void remove_all(const std::filesystem::path& path) override {
    std::error_code error;
    std::filesystem::remove_all(path, error);
    if (error) throw IoError(message("cannot remove '", path.string(), "': ", error.message()));
  }
};

}  // namespace

FileSystem& local_file_system() {
  static PosixFileSystem file_system;
  return file_system;
}

}  // namespace rowshard
