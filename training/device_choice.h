// Which GPU a rank's tables live on: one rank per GPU, the GPU of the
// rank's place on its machine (its local rank).
#pragma once

#include <memory>
#include <string>

#include "training/config/job_config.h"

namespace rowshard {

struct DeviceChoice {
  int gpu = -1;  // -1: the tables are on the CPU
  // More ranks on this machine than GPUs, so ranks share a GPU. (Which
  // transport their exchanges take is device_exchange's decision, from the
  // GPUs' identities.)
  bool shares_gpu = false;
};

// The choice for a rank `local_rank` of the `local_ranks` on a machine with
// `gpus` GPUs: GPU local_rank % gpus.
DeviceChoice choose_device(Device device, int local_rank, int local_ranks, int gpus);

// Makes this rank's GPU (by Open MPI's OMPI_COMM_WORLD_LOCAL_RANK and
// _LOCAL_SIZE; rank 0 of 1 without them) its CUDA device, for a job with
// device: cuda; nothing for device: cpu.
DeviceChoice select_rank_device(const config::JobConfig& job);

// The communicator for the tables' exchanges of a job with device: cuda on
// several ranks: NCCL where every rank has a GPU of its own, nullptr (the
// world communicator, staged through host memory) where ranks share one, in
// a build without NCCL, for device: cpu and for one rank. Collective; rank
// 0 prints the choice and its reason.
std::unique_ptr<Communicator> device_exchange(const config::JobConfig& job,
                                              const DeviceChoice& choice, Communicator& world);

// "GPU 1 of 2 (shared: 4 ranks on 2 GPU(s))".
std::string describe(const DeviceChoice& choice, int local_ranks, int gpus);

}  // namespace rowshard
