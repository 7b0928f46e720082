// Communicators for ranks on GPUs: NCCL between GPUs of their own, and the
// choice between it and the staged transport for ranks that share a GPU.
//
// The Communicator interface takes and returns host bytes (the sharded
// collection builds its messages on the host, and the GPU backend stages
// through host memory), so an NCCL all-to-all runs in three parts: the
// counts over the bootstrap communicator (host side), then the whole send
// buffer to the GPU, one grouped ncclSend/ncclRecv per peer, and the whole
// receive buffer back to the host.
//
// No collective waits forever. NCCL runs non-blocking and the host polls
// it: past the communicator's timeout it aborts the NCCL communicator and
// throws CollectiveTimeout naming the step, the phase and this rank's peers
// in that all-to-all (NCCL does not say which transfer of a group is
// missing, so every peer this rank sends to or receives from is named). A
// rank that stopped before the counts is named exactly, by the bootstrap's
// watchdog, with this communicator's limit, step and phase. Either way the
// communicator cannot be used again: end the job with abort().
//
// NCCL refuses two ranks on one GPU. Ranks that share one use the staged
// transport: the bootstrap (MPI) communicator itself, over host memory, so
// several ranks can run on a one-GPU machine. transport_for_devices()
// chooses.
//
// Built where CUDA and NCCL are both found. Elsewhere nccl_is_built() is
// false, transport_for_devices() answers staged, and nccl_communicator()
// and device_identity() throw InvalidArgument saying so.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "rowshard/sharding/communicator.h"

namespace rowshard {

// Whether this build has the NCCL communicator.
bool nccl_is_built();

// A communicator of the ranks of `bootstrap` (the same ranks in the same
// order) whose all-to-alls move their bytes with NCCL; this rank's GPU is
// CUDA device `device`. Collective over `bootstrap`, which must outlive it
// and carries its barrier, its abort and the counts of its all-to-alls. Its
// timeout starts as the bootstrap's; set_timeout and set_step set its own,
// which it lends the bootstrap for its part of each collective.
// Throws InvalidArgument, on every rank, when ranks share a GPU (naming
// them and the GPU) or the build has no NCCL; CommunicationError when CUDA
// or NCCL fails, with their words; CollectiveTimeout when NCCL does not
// start within the timeout.
std::unique_ptr<Communicator> nccl_communicator(Communicator& bootstrap, int device);

// A GPU's identity, the same in every process and on every host: its UUID
// as nvidia-smi writes it ("GPU-6f3e2a1b-..."). CommunicationError naming
// the device and CUDA's words when it does not answer (no driver, no such
// device).
std::string device_identity(int device);

enum class DeviceTransport {
  nccl,    // nccl_communicator(): every rank has a GPU of its own
  staged,  // the bootstrap (MPI) communicator, over host memory
};

struct DeviceTransportChoice {
  DeviceTransport transport = DeviceTransport::staged;
  std::string reason;  // for the job's log, e.g. "ranks 0, 1 share GPU GPU-6f3e2a1b-..."
};

// From each rank's GPU (device_identity(), in rank order): NCCL when no two
// ranks share one, else staged.
DeviceTransportChoice transport_for_devices(std::span<const std::string> device_of_rank);

// The same, collective over `bootstrap`: each rank names its CUDA device,
// and every rank gets the same answer. Where a rank's device does not
// answer, every rank throws CommunicationError naming the lowest such rank
// and its error. In a build without NCCL, staged, without asking the
// devices.
DeviceTransportChoice transport_for_devices(Communicator& bootstrap, int device);

}  // namespace rowshard
