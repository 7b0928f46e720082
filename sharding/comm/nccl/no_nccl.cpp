// The NCCL communicator's stand-in in a build without CUDA or NCCL.
#include "rowshard/sharding/nccl_communicator.h"

namespace rowshard {
namespace {

[[noreturn]] void refuse(std::string_view what) {
  throw InvalidArgument(message(what, ": this build of rowshard has no NCCL communicator (it is ",
                                "built only where CUDA and NCCL are found)"));
}

}  // namespace

bool nccl_is_built() { return false; }

std::unique_ptr<Communicator> nccl_communicator(Communicator&, int device) {
  refuse(message("NCCL communicator on device ", device));
}

std::string device_identity(int device) { refuse(message("identity of device ", device)); }

}  // namespace rowshard
