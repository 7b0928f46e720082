// Communicator: the only door to other ranks. Everything in sharding/ that
// needs another process's data goes through these few collectives, so a
// backend (MPI, NCCL, in-process) is one small class.
//
// Every method but the watchdog's settings is collective: all ranks of the
// communicator call it in the same order. A backend failure throws CommunicationError; callers end
// the job rather than continue with ranks out of step.
//
// No collective waits forever: one that has waited timeout_seconds() for
// some rank throws CollectiveTimeout, naming the step, the phase and the
// ranks that did not arrive, so a rank that stalls without dying (stopped,
// stuck on a slow disk) ends the job with a message instead of a silent hang.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "rowshard/engine/error.h"

namespace rowshard {

class CommunicationError : public Error {
 public:
  using Error::Error;
};

// A collective waited longer than the communicator's timeout. The
// communicator is unusable afterwards (messages of the abandoned collective
// may still arrive): end the job, with Communicator::abort.
class CollectiveTimeout : public CommunicationError {
 public:
  using CommunicationError::CommunicationError;
};

// What the ranks are exchanging, for the message of a CollectiveTimeout.
enum class Phase {
  input_exchange,     // ids and lengths to the owners of their rows
  output_exchange,    // pooled partial results back to their sources
  gradient_exchange,  // embedding gradients to the owners, sparse all-reduces
  all_reduce,         // dense gradients, losses, the end-of-data check
  evaluation,         // held-out predictions gathered on rank 0
  checkpoint_save,
  checkpoint_restore,
};

// "input exchange", "all-reduce", ...
std::string_view phase_name(Phase phase);

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

  // The collective watchdog's limit: how long one collective may wait for
  // the other ranks. InvalidArgument unless 0 < seconds <= kMaxTimeoutSeconds.
  static constexpr double kDefaultTimeoutSeconds = 300;
  static constexpr double kMaxTimeoutSeconds = 86400;
  void set_timeout(double seconds);
  double timeout_seconds() const { return timeout_seconds_; }

  // The training step a CollectiveTimeout names (none until set).
  void set_step(int64_t step) { step_ = step; }

 protected:
  // For backends: the error for a collective that gave up waiting on
  // `late_ranks`, naming the step and phase.
  CollectiveTimeout timeout_error(std::span<const int> late_ranks) const;

  // For a backend that runs part of its collectives over another
  // communicator (NCCL's counts over MPI): while a loan lives, the borrower's
  // watchdog waits the lender's limit and names the lender's step and
  // phases, so its timeouts read as the lender's. The borrower's own
  // settings come back when the loan ends.
  class WatchdogLoan {
   public:
    WatchdogLoan(const Communicator& lender, Communicator& borrower);
    ~WatchdogLoan();
    WatchdogLoan(const WatchdogLoan&) = delete;
    WatchdogLoan& operator=(const WatchdogLoan&) = delete;

   private:
    Communicator& borrower_;
    double timeout_seconds_;
    std::optional<int64_t> step_;
    std::vector<Phase> phases_;
  };

  int64_t bytes_sent_ = 0;
  int64_t bytes_received_ = 0;

 private:
  friend class CollectivePhase;

  double timeout_seconds_ = kDefaultTimeoutSeconds;
  std::optional<int64_t> step_;
  std::vector<Phase> phases_;  // innermost last
};

// Names the phase of the collectives in its scope, e.g.
//   CollectivePhase phase(comm, Phase::output_exchange);
// Phases nest: a timeout names the innermost and the ones around it.
class CollectivePhase {
 public:
  CollectivePhase(Communicator& comm, Phase phase) : comm_(comm) { comm_.phases_.push_back(phase); }
  ~CollectivePhase() { comm_.phases_.pop_back(); }
  CollectivePhase(const CollectivePhase&) = delete;
  CollectivePhase& operator=(const CollectivePhase&) = delete;

  // Names the collectives from here to the end of the scope instead.
  void switch_to(Phase phase) { comm_.phases_.back() = phase; }

 private:
  Communicator& comm_;
};

// The communicator of every process of this job: MPI's world (size 1 when
// the program was not started by mpirun). Initialises MPI on first use and
// finalises it at exit. Defined in rowshard::mpi (library rowshard_mpi), the
// one part of rowshard that needs MPI.
std::unique_ptr<Communicator> world_communicator();

// A single-rank communicator that never leaves the process.
std::unique_ptr<Communicator> local_communicator();

}  // namespace rowshard
