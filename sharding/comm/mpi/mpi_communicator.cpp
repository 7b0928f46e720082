// The MPI communicator (Open MPI). MPI is initialised once per process, on
// first use, and finalised when the process exits normally.
#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <limits>
#include <mutex>

#include "sharding/communicator.h"

namespace rowshard {
namespace {

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
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided),
          "MPI_Init_thread");
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
    throw CommunicationError(message(what, " of ", value,
                                     " bytes exceeds MPI's int count"));
  return static_cast<int>(value);
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    ensure_initialised();
    check(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
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
    std::vector<int> sendcounts(size_), sdispls(size_), recvcounts(size_),
        rdispls(size_);
    int64_t offset = 0;
    for (int k = 0; k < size_; ++k) {
      sendcounts[k] = as_int(send_counts[k], "an all-to-all message");
      sdispls[k] = as_int(offset, "an all-to-all send buffer");
      offset += send_counts[k];
      if (k != rank_) bytes_sent_ += send_counts[k];
    }
    ROWSHARD_ASSERT(offset == static_cast<int64_t>(send.size()));
    check(MPI_Alltoall(sendcounts.data(), 1, MPI_INT, recvcounts.data(), 1,
                       MPI_INT, comm_),
          "MPI_Alltoall");
    Received received;
    received.offsets.assign(size_ + 1, 0);
    for (int k = 0; k < size_; ++k) {
      received.offsets[k + 1] = received.offsets[k] + recvcounts[k];
      rdispls[k] = as_int(received.offsets[k], "an all-to-all receive buffer");
      if (k != rank_) bytes_received_ += recvcounts[k];
    }
    received.data.resize(received.offsets[size_]);
    check(MPI_Alltoallv(send.data(), sendcounts.data(), sdispls.data(), MPI_BYTE,
                        received.data.data(), recvcounts.data(), rdispls.data(),
                        MPI_BYTE, comm_),
          "MPI_Alltoallv");
    return received;
  }

  void barrier() override { check(MPI_Barrier(comm_), "MPI_Barrier"); }

  [[noreturn]] void abort(int code) override {
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(comm_, code);
    std::exit(code);  // MPI_Abort does not return; this keeps [[noreturn]] true
  }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace

std::unique_ptr<Communicator> world_communicator() {
  return std::make_unique<MpiCommunicator>();
}

}  // namespace rowshard
