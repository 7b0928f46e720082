// Memory a kernel reuses from call to call.
#pragma once

#include <cstddef>
#include <memory>

namespace rowshard::cpu {

// A grow-only array of trivially copyable T whose elements are left
// uninitialised. A step's working arrays are tens of megabytes; allocating
// them afresh costs a page fault per 4 KiB and a memset each step, which
// measured ~10% of a training step.
template <typename T>
class ScratchBuffer {
 public:
  // Makes room for `count` elements; their values are unspecified.
  T* reserve(std::size_t count) {
    if (count > capacity_) {
      storage_.reset(new T[count]);
      capacity_ = count;
    }
    return storage_.get();
  }
  T* data() { return storage_.get(); }
  const T* data() const { return storage_.get(); }

 private:
  std::unique_ptr<T[]> storage_;
  std::size_t capacity_ = 0;
};

}  // namespace rowshard::cpu
