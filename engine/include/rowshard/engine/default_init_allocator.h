// An allocator whose value-less construct() leaves trivial types
// uninitialised, so vector::resize() does not zero memory the caller is
// about to overwrite anyway (tens of megabytes per training step).
#pragma once

#include <memory>
#include <utility>

namespace rowshard {

template <typename T>
class DefaultInitAllocator : public std::allocator<T> {
 public:
  template <typename U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };

  DefaultInitAllocator() = default;
  template <typename U>
  DefaultInitAllocator(const DefaultInitAllocator<U>&) noexcept {}

  template <typename U>
  void construct(U* at) {
    ::new (static_cast<void*>(at)) U;  // default-, not value-initialised
  }
  template <typename U, typename... Args>
  void construct(U* at, Args&&... args) {
    ::new (static_cast<void*>(at)) U(std::forward<Args>(args)...);
  }
};

}  // namespace rowshard
