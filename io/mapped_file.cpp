#include "io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "rowshard/engine/error.h"

namespace rowshard {

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path, Access access) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw IoError(message("cannot open '", path, "': ", std::strerror(errno)));
  struct stat status {};
  if (::fstat(fd, &status) != 0) {
    const int error = errno;
    ::close(fd);
    throw IoError(message("cannot stat '", path, "': ", std::strerror(error)));
  }
  const auto size = static_cast<std::size_t>(status.st_size);
  void* data = nullptr;
  if (size > 0) {
    const int protection = access == Access::read_only ? PROT_READ : PROT_READ | PROT_WRITE;
    const int sharing = access == Access::read_only ? MAP_SHARED : MAP_PRIVATE;
    data = ::mmap(nullptr, size, protection, sharing, fd, 0);
    if (data == MAP_FAILED) {
      const int error = errno;
      ::close(fd);
      throw IoError(message("cannot map '", path, "': ", std::strerror(error)));
    }
  }
  ::close(fd);  // the mapping keeps the file alive
  return std::shared_ptr<MappedFile>(new MappedFile(path, static_cast<std::byte*>(data), size));
}

MappedFile::~MappedFile() {
  if (size_ > 0) ::munmap(data_, size_);
}

}  // namespace rowshard
