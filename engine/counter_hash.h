// Counter-based random bits: the value for (key, counter) depends on
// nothing else, so parallel loops draw the same numbers whatever the thread
// count or the order in which they visit counters. Host-and-device, so the
// CUDA backend rounds with the very bits the CPU engine draws.
#pragma once

#include <cstdint>

#include "engine/host_device.h"

namespace rowshard {

// SplitMix64's finaliser: a bijection with good avalanche, so distinct
// counters never collide and consecutive ones look unrelated. `Word` is
// uint64_t, or a GCC vector of them: vector kernels then hash several
// counters at once with these very steps.
template <typename Word = uint64_t>
ROWSHARD_HOST_DEVICE constexpr Word mix64(Word x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// 64 random bits for `counter` in the stream named by `key`.
ROWSHARD_HOST_DEVICE constexpr uint64_t counter_hash(uint64_t key, uint64_t counter) {
  return mix64(mix64(key) ^ counter);
}

}  // namespace rowshard
