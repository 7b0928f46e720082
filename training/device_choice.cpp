#include "training/device_choice.h"

#include <cstdlib>

#include "rowshard/engine/error.h"
#include "rowshard/sharding/memory_limit.h"

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

std::string describe(const DeviceChoice& choice, int local_ranks, int gpus) {
  if (choice.gpu < 0) return "CPU";
  std::string text = message("GPU ", choice.gpu, " of ", gpus);
  if (choice.shares_gpu)
    text += message(" (", local_ranks, " ranks on ", gpus,
                    " GPU(s): exchanges staged through host memory)");
  return text;
}

}  // namespace rowshard
