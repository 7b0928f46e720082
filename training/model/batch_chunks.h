// How the dense model spreads one batch over the OpenMP threads without
// letting the thread count change a bit of its results.
//
// The batch is cut into chunks of kChunkExamples examples (the last may be
// shorter). Chunk c belongs to slot c % slots(), where slots() =
// min(chunks, kMaxSlots): a slot's chunks are worked on in increasing order
// by one thread at a time, each adding its gradients into the slot's own
// buffer, and the slots' buffers are added together in slot order. The
// chunks, the slots and the order of every sum depend on the batch size
// alone, so 1, 2 or 16 threads give the same bits; threads only change which
// slot runs where and when. (Up to kMaxSlots threads find work; a slot's
// buffer costs one copy of the gradients.)
#pragma once

#include <algorithm>
#include <cstdint>
#include <exception>
#include <span>
#include <vector>

namespace rowshard {

// Examples [first, first + count) of the batch.
struct ExampleRange {
  int64_t first;
  int64_t count;
};

class BatchChunks {
 public:
  static constexpr int64_t kChunkExamples = 64;
  static constexpr int64_t kMaxSlots = 16;

  // The chunks of a batch of batch_size >= 0 examples.
  explicit BatchChunks(int64_t batch_size) : batch_size_(batch_size) {}

  int64_t chunks() const { return (batch_size_ + kChunkExamples - 1) / kChunkExamples; }
  int64_t slots() const { return std::min(chunks(), kMaxSlots); }
  ExampleRange range(int64_t chunk) const {
    const int64_t first = chunk * kChunkExamples;
    return {first, std::min(kChunkExamples, batch_size_ - first)};
  }

  // Calls work(slot, chunk) for every chunk, each slot's chunks in
  // increasing order on one thread, the slots on the OpenMP threads. If
  // calls throw, the other slots still finish and the exception of the
  // lowest such slot is rethrown here.
  template <typename Work>
  void for_each(Work work) const {
    const int64_t slots = this->slots();
    std::vector<std::exception_ptr> errors(slots);
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t slot = 0; slot < slots; ++slot) {
      try {
        for (int64_t chunk = slot; chunk < chunks(); chunk += slots) work(slot, chunk);
      } catch (...) {
        errors[slot] = std::current_exception();
      }
    }
    for (const std::exception_ptr& error : errors)
      if (error) std::rethrow_exception(error);
  }

 private:
  int64_t batch_size_;
};

// target[i] += parts[0][i] + parts[1][i] + ... + parts[n-1][i], summed in
// that order, for every i, on the OpenMP threads. Every part holds
// target.size() values.
void add_in_order(std::span<float> target, std::span<const std::vector<float>> parts);

}  // namespace rowshard
