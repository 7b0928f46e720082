// The NCCL communicator (see rowshard/sharding/nccl_communicator.h): the
// NCCL and CUDA calls only; where the bytes lie and how long to wait are
// host logic beside it (exchange_plan.h, poll.h), tested without a GPU.
#include "rowshard/sharding/nccl_communicator.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <utility>

#include "sharding/comm/nccl/bootstrap_collectives.h"
#include "sharding/comm/nccl/exchange_plan.h"
#include "sharding/comm/nccl/gpu_uuid.h"
#include "sharding/comm/nccl/poll.h"

namespace rowshard {
namespace {

void check_cuda(cudaError_t status, std::string_view call) {
  if (status == cudaSuccess) return;
  const std::string words =
      message("CUDA error ", static_cast<int>(status), " (", cudaGetErrorString(status), ")");
  if (status == cudaErrorMemoryAllocation)
    throw OutOfMemory(message(call, ": out of GPU memory: ", words));
  throw CommunicationError(message(call, " failed: ", words));
}

// ncclInProgress is not a failure: a non-blocking call goes on after it
// returns, and the communicator's state says when it is done.
void check_nccl(ncclResult_t result, std::string_view call, ncclComm_t comm = nullptr) {
  if (result == ncclSuccess || result == ncclInProgress) return;
  std::string words = ncclGetErrorString(result);
  if (comm) words += message(": ", ncclGetLastError(comm));
  throw CommunicationError(message(call, " failed: ", words));
}

// GPU memory that only grows: an all-to-all's staging buffer, kept for the
// next one, as cudaMalloc and cudaFree synchronise the device.
class DeviceBytes {
 public:
  DeviceBytes() = default;
  DeviceBytes(const DeviceBytes&) = delete;
  DeviceBytes& operator=(const DeviceBytes&) = delete;
  ~DeviceBytes() { cudaFree(data_); }

  std::byte* at_least(int64_t bytes, std::string_view purpose) {
    if (bytes <= capacity_) return data_;
    check_cuda(cudaFree(std::exchange(data_, nullptr)), "cudaFree");
    capacity_ = 0;
    check_cuda(cudaMalloc(&data_, bytes), message("cudaMalloc of ", bytes, " bytes ", purpose));
    capacity_ = bytes;
    return data_;
  }

 private:
  std::byte* data_ = nullptr;
  int64_t capacity_ = 0;
};

class Stream {
 public:
  Stream() {
    check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream() { cudaStreamDestroy(stream_); }
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

// The NCCL communicator's handle. close() lets go of it in order (NCCL's
// last messages flushed) within a timeout, else aborts; a handle not
// closed, as when its communicator's start failed, is aborted, which waits
// for no one.
class NcclHandle {
 public:
  NcclHandle() = default;
  NcclHandle(const NcclHandle&) = delete;
  NcclHandle& operator=(const NcclHandle&) = delete;
  ~NcclHandle() { abort(); }

  ncclComm_t* out() { return &comm_; }
  ncclComm_t get() const { return comm_; }

  // Done with what was asked of it: no call still in progress. A call that
  // failed throws, with NCCL's words.
  bool idle() const {
    ncclResult_t state = ncclSuccess;
    check_nccl(ncclCommGetAsyncError(comm_, &state), "ncclCommGetAsyncError", comm_);
    check_nccl(state, "NCCL", comm_);
    return state == ncclSuccess;
  }

  void close(double timeout_seconds) {
    if (!comm_) return;
    try {
      check_nccl(ncclCommFinalize(comm_), "ncclCommFinalize", comm_);
      if (!poll_until_done([this] { return idle(); }, timeout_seconds)) return abort();
    } catch (const CommunicationError&) {
      return abort();
    }
    ncclCommDestroy(std::exchange(comm_, nullptr));
  }

  void abort() {
    if (comm_) ncclCommAbort(std::exchange(comm_, nullptr));
  }

 private:
  ncclComm_t comm_ = nullptr;
};

// Makes `device` the calling thread's, for what is created on it next.
int use_device(int device) {
  check_cuda(cudaSetDevice(device), message("cudaSetDevice(", device, ")"));
  return device;
}

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(Communicator& bootstrap, int device)
      : bootstrap_(bootstrap), device_(use_device(device)) {
    set_timeout(bootstrap.timeout_seconds());
    start_nccl();
  }
  ~NcclCommunicator() override { nccl_.close(timeout_seconds()); }

  int rank() const override { return bootstrap_.rank(); }
  int size() const override { return bootstrap_.size(); }

  Received alltoallv(std::span<const std::byte> send,
                     std::span<const int64_t> send_counts) override {
    ROWSHARD_ASSERT(static_cast<int>(send_counts.size()) == size());
    ensure_usable();
    const std::vector<int64_t> receive_counts =
        over_bootstrap([&] { return exchange_counts(bootstrap_, send_counts); });
    const ExchangePlan plan = plan_exchange(send_counts, receive_counts);
    ROWSHARD_ASSERT(plan.send_bytes() == static_cast<int64_t>(send.size()));
    Received received;
    try {
      received = exchange(send, plan);
    } catch (...) {
      give_up();
      throw;
    }
    for (int k = 0; k < size(); ++k) {
      if (k == rank()) continue;
      bytes_sent_ += plan.send_count(k);
      bytes_received_ += plan.receive_count(k);
    }
    return received;
  }

  void barrier() override {
    ensure_usable();
    over_bootstrap([&] { bootstrap_.barrier(); });
  }

  [[noreturn]] void abort(int code) override {
    bootstrap_.abort(code);
    std::exit(code);  // not reached: the bootstrap's abort does not return either
  }

 private:
  // The unique id from rank 0 to every rank, then every rank joins.
  void start_nccl() {
    ncclUniqueId id{};
    if (rank() == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    const Received ids = over_bootstrap([&] {
      return gather_from_every_rank(bootstrap_, rank() == 0 ? std::as_bytes(std::span(&id, 1))
                                                            : std::span<const std::byte>());
    });
    ROWSHARD_ASSERT(ids.from(0).size() == sizeof id);
    std::memcpy(&id, ids.from(0).data(), sizeof id);
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    check_nccl(ncclCommInitRankConfig(nccl_.out(), size(), id, rank(), &config),
               "ncclCommInitRankConfig", *nccl_.out());
    wait_for_nccl(other_ranks(size(), rank()));
  }

  // Staged through the device: the whole send buffer there, one grouped
  // send and receive per peer (self included, so one rank alone still goes
  // through NCCL), and the whole receive buffer back once NCCL is done: a
  // copy from the device to pageable memory would block the host until
  // then, out of the watchdog's reach.
  Received exchange(std::span<const std::byte> send, const ExchangePlan& plan) {
    use_device(device_);
    std::byte* device_send = send_buffer_.at_least(plan.send_bytes(), "to send from");
    std::byte* device_receive = receive_buffer_.at_least(plan.receive_bytes(), "to receive into");
    const cudaStream_t stream = stream_.get();
    if (!send.empty())
      check_cuda(
          cudaMemcpyAsync(device_send, send.data(), send.size(), cudaMemcpyHostToDevice, stream),
          "cudaMemcpyAsync to the device");
    check_nccl(ncclGroupStart(), "ncclGroupStart");
    for (int k = 0; k < size(); ++k) {
      if (plan.send_count(k) > 0)
        check_nccl(
            ncclSend(device_send + plan.send_offsets[k], static_cast<size_t>(plan.send_count(k)),
                     ncclUint8, k, nccl_.get(), stream),
            "ncclSend", nccl_.get());
      if (plan.receive_count(k) > 0)
        check_nccl(
            ncclRecv(device_receive + plan.receive_offsets[k],
                     static_cast<size_t>(plan.receive_count(k)), ncclUint8, k, nccl_.get(), stream),
            "ncclRecv", nccl_.get());
    }
    check_nccl(ncclGroupEnd(), "ncclGroupEnd", nccl_.get());
    wait_for_nccl(peers_in_flight(plan, rank()), stream);

    Received received{std::vector<std::byte>(plan.receive_bytes()), plan.receive_offsets};
    if (!received.data.empty()) {
      check_cuda(cudaMemcpyAsync(received.data.data(), device_receive, received.data.size(),
                                 cudaMemcpyDeviceToHost, stream),
                 "cudaMemcpyAsync to the host");
      check_cuda(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    }
    return received;
  }

  // Until NCCL has taken every call and, given `stream`, the device has
  // run all of it. At the timeout, NCCL is aborted and the error names
  // `waiting_for`.
  void wait_for_nccl(std::span<const int> waiting_for, cudaStream_t stream = nullptr) {
    const auto done = [&] {
      if (!nccl_.idle()) return false;
      if (!stream) return true;
      const cudaError_t status = cudaStreamQuery(stream);
      if (status == cudaErrorNotReady) return false;
      check_cuda(status, "cudaStreamQuery");
      return true;
    };
    if (poll_until_done(done, timeout_seconds())) return;
    give_up();
    throw timeout_error(waiting_for);
  }

  // A part of a collective that runs over the bootstrap, with this
  // communicator's limit, step and phases.
  template <typename Part>
  std::invoke_result_t<Part&> over_bootstrap(Part part) {
    WatchdogLoan loan(*this, bootstrap_);
    try {
      return part();
    } catch (...) {
      give_up();
      throw;
    }
  }

  void ensure_usable() const {
    if (broken_)
      throw CommunicationError(
          "a collective of this NCCL communicator failed or timed out earlier; it cannot be used "
          "again");
  }

  // Ranks are out of step or NCCL is stuck: nothing more can be exchanged.
  void give_up() {
    broken_ = true;
    nccl_.abort();
  }

  Communicator& bootstrap_;
  int device_;
  // Declared after the device is chosen and before NCCL's handle, so they
  // are made on the device and freed after NCCL lets go of them.
  Stream stream_;
  DeviceBytes send_buffer_;
  DeviceBytes receive_buffer_;
  NcclHandle nccl_;
  bool broken_ = false;
};

}  // namespace

bool nccl_is_built() { return true; }

std::unique_ptr<Communicator> nccl_communicator(Communicator& bootstrap, int device) {
  const DeviceTransportChoice choice = transport_for_devices(bootstrap, device);
  if (choice.transport != DeviceTransport::nccl)
    throw InvalidArgument(message("NCCL communicator: ", choice.reason,
                                  ", and NCCL refuses two ranks on one GPU; such ranks use the "
                                  "staged transport (the MPI communicator) instead"));
  return std::make_unique<NcclCommunicator>(bootstrap, device);
}

std::string device_identity(int device) {
  cudaDeviceProp properties{};
  check_cuda(cudaGetDeviceProperties(&properties, device),
             message("cudaGetDeviceProperties(device ", device, ")"));
  unsigned char uuid[16];
  std::memcpy(uuid, properties.uuid.bytes, sizeof uuid);
  return gpu_uuid_text(uuid);
}

}  // namespace rowshard
