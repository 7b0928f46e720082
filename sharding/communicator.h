// Communicator: the only door to other ranks. Everything in sharding/ that
// needs another process's data goes through these few collectives, so a
// backend (MPI, NCCL, in-process) is one small class.
//
// Every method is collective: all ranks of the communicator call it in the
// same order. A backend failure throws CommunicationError; callers end the
// job rather than continue with ranks out of step.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "engine/error.h"

namespace rowshard {

class CommunicationError : public Error {
 public:
  using Error::Error;
};

// What one rank received from an all-to-all: from rank k, the bytes
// data[offsets[k] .. offsets[k + 1]).
struct Received {
  std::vector<std::byte> data;
  std::vector<int64_t> offsets;  // size() + 1 entries

  std::span<const std::byte> from(int rank) const {
    return std::span(data).subspan(offsets[rank], offsets[rank + 1] - offsets[rank]);
  }
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;

  // Sends send[prefix(send_counts)[k] ..][.. send_counts[k]] to rank k (one
  // count per rank, self included) and returns what every rank sent here.
  virtual Received alltoallv(std::span<const std::byte> send,
                             std::span<const int64_t> send_counts) = 0;

  virtual void barrier() = 0;

  // Ends every process of the job now, with `code`: for an error one rank
  // hit alone, which the others would otherwise wait on forever.
  [[noreturn]] virtual void abort(int code) = 0;

  // Bytes this rank has sent to and received from other ranks (itself not
  // counted) since it was created.
  int64_t bytes_sent() const { return bytes_sent_; }
  int64_t bytes_received() const { return bytes_received_; }

 protected:
  int64_t bytes_sent_ = 0;
  int64_t bytes_received_ = 0;
};

// The communicator of every process of this job: MPI's world (size 1 when
// the program was not started by mpirun). Initialises MPI on first use and
// finalises it at exit.
std::unique_ptr<Communicator> world_communicator();

// A single-rank communicator that never leaves the process.
std::unique_ptr<Communicator> local_communicator();

}  // namespace rowshard
