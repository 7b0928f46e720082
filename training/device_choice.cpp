#include "training/device_choice.h"

#include <cstdio>
#include <cstdlib>

#include "rowshard/engine/error.h"
#include "rowshard/sharding/memory_limit.h"
#include "rowshard/sharding/nccl_communicator.h"

namespace rowshard {
namespace {

int local_rank() {
  const char* rank = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK");
  return rank ? std::atoi(rank) : 0;
}

}  // namespace

DeviceChoice choose_device(Device device, int local_rank, int local_ranks, int gpus) {
  if (device == Device::cpu) return {};
  ROWSHARD_ASSERT(gpus > 0 && local_rank >= 0 && local_rank < local_ranks);
  return {local_rank % gpus, local_ranks > gpus};
}

DeviceChoice select_rank_device(const config::JobConfig& job) {
  if (job.device == Device::cpu) return {};
  const int gpus = cuda_device_count();
  if (gpus == 0)
    throw InvalidArgument(
        message(job.file, ": device cuda: ", device_unavailable_reason(job.device)));
  const DeviceChoice choice =
      choose_device(job.device, local_rank(), ranks_on_this_machine(), gpus);
  select_cuda_device(choice.gpu);
  return choice;
}

std::unique_ptr<Communicator> device_exchange(const config::JobConfig& job,
                                              const DeviceChoice& choice, Communicator& world) {
  if (job.device != Device::cuda || world.size() == 1) return nullptr;
  const DeviceTransportChoice transport = transport_for_devices(world, choice.gpu);
  const bool nccl = transport.transport == DeviceTransport::nccl;
  if (world.rank() == 0)
    std::printf("exchange: %s%s%s\n", nccl ? "NCCL" : "staged through host memory over MPI",
                transport.reason.empty() ? "" : ": ", transport.reason.c_str());
  if (!nccl) return nullptr;
  std::unique_ptr<Communicator> exchange = nccl_communicator(world, choice.gpu);
  exchange->set_timeout(job.comm_timeout_s);
  return exchange;
}

std::string describe(const DeviceChoice& choice, int local_ranks, int gpus) {
  if (choice.gpu < 0) return "CPU";
  std::string text = message("GPU ", choice.gpu, " of ", gpus);
  if (choice.shares_gpu) text += message(" (shared: ", local_ranks, " ranks on ", gpus, " GPU(s))");
  return text;
}

}  // namespace rowshard
