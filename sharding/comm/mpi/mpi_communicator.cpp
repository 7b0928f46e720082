// The MPI communicator (Open MPI). MPI is initialised once per process, on
// first use, and finalised when the process exits normally.
//
// Collectives are non-blocking point-to-point messages with every other
// rank, waited for against the watchdog's deadline: a receive still pending
// then names a rank that did not arrive. Messages between two ranks on one
// tag arrive in the order sent, and every rank calls the collectives in the
// same order, so fixed tags match each message to its collective.
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <thread>

#include "rowshard/sharding/communicator.h"

namespace rowshard {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kCountsTag = 1;
constexpr int kDataTag = 2;
constexpr int kBarrierTag = 3;

// A wait polls flat out this long, as ranks in step usually meet sooner,
// and then yields the core between polls: a rank waiting longer leaves it to
// ranks or threads that share it (measured in BENCHMARKS.md's watchdog entry).
constexpr std::chrono::microseconds kSpinBeforeYielding{50};

void check(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw CommunicationError(message(call, " failed: ", std::string(text, length)));
}

void ensure_initialised() {
  static std::once_flag once;
  std::call_once(once, [] {
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (initialised) return;
    int provided = 0;
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    // Errors come back as codes and become exceptions, instead of MPI
    // aborting the process with its own message.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    std::atexit([] {
      int finalised = 0;
      MPI_Finalized(&finalised);
      if (!finalised) MPI_Finalize();
    });
  });
}

int as_int(int64_t value, const char* what) {
  if (value > std::numeric_limits<int>::max())
    throw CommunicationError(message(what, " of ", value, " bytes exceeds MPI's int count"));
  return static_cast<int>(value);
}

// The messages one rank exchanges with its peers in one step of a
// collective, all in flight at once.
class Round {
 public:
  explicit Round(MPI_Comm comm) : comm_(comm) {}

  void receive(void* buffer, int bytes, int peer, int tag) {
    requests_.push_back(MPI_REQUEST_NULL);
    from_.push_back(peer);
    ++pending_;
    check(MPI_Irecv(buffer, bytes, MPI_BYTE, peer, tag, comm_, &requests_.back()), "MPI_Irecv");
  }
  void send(const void* buffer, int bytes, int peer, int tag) {
    requests_.push_back(MPI_REQUEST_NULL);
    from_.push_back(kSend);
    ++pending_;
    check(MPI_Isend(buffer, bytes, MPI_BYTE, peer, tag, comm_, &requests_.back()), "MPI_Isend");
  }

  // Completes what has arrived; true once every message has.
  bool test() {
    if (pending_ == 0) return true;
    int completed = 0;
    indices_.resize(requests_.size());
    check(MPI_Testsome(static_cast<int>(requests_.size()), requests_.data(), &completed,
                       indices_.data(), MPI_STATUSES_IGNORE),
          "MPI_Testsome");
    pending_ -= completed;
    return pending_ == 0;
  }

  // The peers whose messages have not arrived yet.
  std::vector<int> waiting_for() const {
    std::vector<int> peers;
    for (std::size_t i = 0; i < requests_.size(); ++i)
      if (requests_[i] != MPI_REQUEST_NULL && from_[i] != kSend) peers.push_back(from_[i]);
    return peers;
  }

  // Gives up on the messages still in flight: receives are cancelled, and
  // MPI forgets the requests (it may still complete them later).
  void abandon() {
    for (std::size_t i = 0; i < requests_.size(); ++i) {
      if (requests_[i] == MPI_REQUEST_NULL) continue;
      if (from_[i] != kSend) MPI_Cancel(&requests_[i]);
      MPI_Request_free(&requests_[i]);
    }
  }

 private:
  static constexpr int kSend = -1;

  MPI_Comm comm_;
  std::vector<MPI_Request> requests_;
  std::vector<int> from_;  // the peer of each receive, kSend for sends
  std::vector<int> indices_;
  int pending_ = 0;
};

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    ensure_initialised();
    check(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    sent_counts_.resize(size_);
    received_counts_.resize(size_);
  }
  ~MpiCommunicator() override {
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (!finalised) MPI_Comm_free(&comm_);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  Received alltoallv(std::span<const std::byte> send,
                     std::span<const int64_t> send_counts) override {
    ROWSHARD_ASSERT(static_cast<int>(send_counts.size()) == size_);
    ensure_usable();
    const Clock::time_point deadline = deadline_from_now();
    std::vector<int64_t> send_offsets(size_ + 1, 0);
    for (int k = 0; k < size_; ++k) {
      as_int(send_counts[k], "an all-to-all message");
      send_offsets[k + 1] = send_offsets[k] + send_counts[k];
    }
    ROWSHARD_ASSERT(send_offsets[size_] == static_cast<int64_t>(send.size()));

    // Kept in members, as they must outlive a timed-out round (see wait).
    sent_counts_.assign(send_counts.begin(), send_counts.end());
    received_counts_[rank_] = send_counts[rank_];
    Round counts(comm_);
    for (int k = 0; k < size_; ++k) {
      if (k == rank_) continue;
      counts.receive(&received_counts_[k], sizeof(int64_t), k, kCountsTag);
      counts.send(&sent_counts_[k], sizeof(int64_t), k, kCountsTag);
    }
    wait(counts, deadline);

    Received received;
    received.offsets.assign(size_ + 1, 0);
    for (int k = 0; k < size_; ++k)
      received.offsets[k + 1] = received.offsets[k] + received_counts_[k];
    received.data.resize(received.offsets[size_]);
    if (send_counts[rank_] > 0)
      std::memcpy(received.data.data() + received.offsets[rank_], send.data() + send_offsets[rank_],
                  send_counts[rank_]);
    // Both ends know each message's size: empty ones are not sent at all.
    Round data(comm_);
    for (int k = 0; k < size_; ++k) {
      if (k == rank_) continue;
      if (received_counts_[k] > 0)
        data.receive(received.data.data() + received.offsets[k],
                     as_int(received_counts_[k], "an all-to-all message"), k, kDataTag);
      if (send_counts[k] > 0)
        data.send(send.data() + send_offsets[k], static_cast<int>(send_counts[k]), k, kDataTag);
      bytes_sent_ += send_counts[k];
      bytes_received_ += received_counts_[k];
    }
    wait(data, deadline, &received.data);
    return received;
  }

  // A zero-byte message to and from every other rank.
  void barrier() override {
    ensure_usable();
    const Clock::time_point deadline = deadline_from_now();
    Round round(comm_);
    for (int k = 0; k < size_; ++k) {
      if (k == rank_) continue;
      round.receive(nullptr, 0, k, kBarrierTag);
      round.send(nullptr, 0, k, kBarrierTag);
    }
    wait(round, deadline);
  }

  [[noreturn]] void abort(int code) override {
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(comm_, code);
    std::exit(code);  // MPI_Abort does not return; this keeps [[noreturn]] true
  }

 private:
  Clock::time_point deadline_from_now() const {
    return Clock::now() + std::chrono::duration_cast<Clock::duration>(
                              std::chrono::duration<double>(timeout_seconds()));
  }

  void ensure_usable() const {
    if (timed_out_)
      throw CommunicationError(
          "a collective of this communicator timed out earlier; it cannot be used again");
  }

  // Polls until every message of `round` has arrived. At the deadline,
  // throws the CollectiveTimeout naming the ranks still missing; then
  // `receiving`, the buffer the round receives into, is kept alive (as are
  // the counts' members), as a message already under way may still land.
  void wait(Round& round, Clock::time_point deadline, std::vector<std::byte>* receiving = nullptr) {
    const Clock::time_point yield_from = Clock::now() + kSpinBeforeYielding;
    while (!round.test()) {
      const Clock::time_point now = Clock::now();
      if (now >= deadline) {
        const std::vector<int> late = round.waiting_for();
        round.abandon();
        if (receiving) abandoned_ = std::move(*receiving);
        timed_out_ = true;
        throw timeout_error(late);
      }
      if (now >= yield_from) std::this_thread::yield();
    }
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
  std::vector<int64_t> sent_counts_;
  std::vector<int64_t> received_counts_;
  std::vector<std::byte> abandoned_;
  bool timed_out_ = false;
};

}  // namespace

std::unique_ptr<Communicator> world_communicator() { return std::make_unique<MpiCommunicator>(); }

}  // namespace rowshard
