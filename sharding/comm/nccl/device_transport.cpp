// The choice between NCCL and the staged transport for ranks on GPUs.
#include <map>
#include <vector>

#include "rowshard/sharding/nccl_communicator.h"
#include "sharding/comm/nccl/bootstrap_collectives.h"

namespace rowshard {

DeviceTransportChoice transport_for_devices(std::span<const std::string> device_of_rank) {
  std::map<std::string_view, std::vector<int>> ranks_of_device;
  for (std::size_t rank = 0; rank < device_of_rank.size(); ++rank)
    ranks_of_device[device_of_rank[rank]].push_back(static_cast<int>(rank));
  // In rank order, so the GPU named is the one of the lowest rank that
  // shares one, whatever the identities' order.
  for (const std::string& device : device_of_rank) {
    const std::vector<int>& sharing = ranks_of_device[device];
    if (sharing.size() < 2) continue;
    std::string ranks;
    for (int rank : sharing) ranks += message(ranks.empty() ? "" : ", ", rank);
    return {DeviceTransport::staged, message("ranks ", ranks, " share GPU ", device)};
  }
  return {DeviceTransport::nccl, "every rank has a GPU of its own"};
}

namespace {

// What a rank whose device did not answer gives instead of its identity:
// its error, after a mark no identity starts with, so that every rank
// learns of it rather than one rank failing and the others waiting.
constexpr char kNoAnswer = '!';

std::string identity_or_error(int device) {
  try {
    return device_identity(device);
  } catch (const CommunicationError& error) {
    return kNoAnswer + std::string(error.what());
  }
}

}  // namespace

DeviceTransportChoice transport_for_devices(Communicator& bootstrap, int device) {
  if (!nccl_is_built())
    return {DeviceTransport::staged,
            "this build has no NCCL (it is built only where CUDA and NCCL are found)"};
  const std::string mine = identity_or_error(device);
  const Received gathered = gather_from_every_rank(bootstrap, std::as_bytes(std::span(mine)));
  std::vector<std::string> device_of_rank;
  for (int rank = 0; rank < bootstrap.size(); ++rank) {
    const std::span<const std::byte> identity = gathered.from(rank);
    device_of_rank.emplace_back(reinterpret_cast<const char*>(identity.data()), identity.size());
    if (device_of_rank.back().starts_with(kNoAnswer))
      throw CommunicationError(message("rank ", rank, ": ", device_of_rank.back().substr(1)));
  }
  return transport_for_devices(device_of_rank);
}

}  // namespace rowshard
