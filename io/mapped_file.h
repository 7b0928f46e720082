// A whole file memory-mapped, read-only or copy-on-write.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>

namespace rowshard {

class MappedFile {
 public:
  enum class Access {
    read_only,      // shared with the page cache; writes are impossible
    copy_on_write,  // private pages, copied from the file on first write
  };

  // Maps the whole file. Throws IoError naming the path when it cannot.
  static std::shared_ptr<MappedFile> open(const std::string& path,
                                          Access access = Access::read_only);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  std::span<const std::byte> bytes() const { return {data_, size_}; }
  std::size_t size() const { return size_; }

 private:
  MappedFile(std::string path, std::byte* data, std::size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  std::byte* data_;
  std::size_t size_;
};

}  // namespace rowshard
