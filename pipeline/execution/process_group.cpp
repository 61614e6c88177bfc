#include "pipeline/execution/process_group.h"

#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef JCAS_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#include <torch/torch.h>

#include <cstdlib>
#include <map>

#include "adapters/foundation/error.h"

namespace jcas {
namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

// The first line of an error without LibTorch's C++ backtrace: what a user can act on.
std::string first_line(const std::exception& e) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
  std::string text = c10_error ? c10_error->what_without_backtrace() : e.what();
  const auto end = text.find('\n');
  return end == std::string::npos ? text : text.substr(0, end);
}

bool is_loopback(const std::string& host) { return host == "127.0.0.1" || host == "localhost" || host == "::1"; }

// c10d's collectives take one tensor per device; many tensors travel as one flat buffer per
// element type (as DDP's buckets) on the group's device, copied back after.
template <class Collective>
void flattened(std::vector<at::Tensor>& tensors, c10::Device device, const Collective& collective) {
  torch::NoGradGuard no_grad;  // parameters are written in place
  std::map<c10::ScalarType, std::vector<at::Tensor*>> by_type;
  for (auto& t : tensors) by_type[t.scalar_type()].push_back(&t);
  for (auto& [type, group] : by_type) {
    std::vector<at::Tensor> flat;
    for (auto* t : group) flat.push_back(t->reshape({-1}).to(device));
    std::vector<at::Tensor> buffer = {torch::cat(flat)};
    collective(buffer);
    int64_t offset = 0;
    for (auto* t : group) {
      t->copy_(buffer[0].narrow(0, offset, t->numel()).view_as(*t));
      offset += t->numel();
    }
  }
}

}  // namespace

struct ProcessGroup::Impl {
  int rank = 0;
  std::chrono::seconds timeout{0};
  c10::Device device = c10::Device(c10::DeviceType::CPU);
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
#ifdef JCAS_WITH_NCCL
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;
#endif

  // `call` on the group in use (Gloo's and NCCL's classes share the collectives' signatures but,
  // across LibTorch versions, not a base class).
  template <class Call>
  auto with_group(const Call& call) const {
#ifdef JCAS_WITH_NCCL
    if (nccl) return call(*nccl);
#endif
    return call(*gloo);
  }

  // Runs a collective and waits for it; c10d's and Gloo's errors (peer closed the connection,
  // timeout) become one line that says which rank saw what, and what to do.
  void wait(const c10::intrusive_ptr<c10d::Work>& work, const std::string& what) const {
    try {
      work->wait();
    } catch (const std::exception& e) {
      throw UserError(fmt::format("rank {}: {} failed: another rank stopped or did not answer within {} s "
                                  "(--dist_timeout); its output says why, and the same command resumes from the "
                                  "cache ({})",
                                  rank, what, timeout.count(), first_line(e)));
    }
  }
};

ProcessGroup::ProcessGroup(int rank, int world_size, std::chrono::seconds timeout, c10::Device device)
    : impl_(std::make_unique<Impl>()) {
  impl_->rank = rank;
  impl_->timeout = timeout;
  const std::string host = env_or("MASTER_ADDR", "127.0.0.1");
  const std::string port_text = env_or("MASTER_PORT", "29500");
  int port = 0;
  try {
    port = std::stoi(port_text);
  } catch (const std::exception&) {
  }
  if (port < 1 || port > 65535) throw UserError(fmt::format("MASTER_PORT='{}' is not a port number", port_text));
  // torchrun's agent (and `jcas run --nproc`) hosts the store itself; otherwise rank 0 does.
  const bool agent_store = env_or("TORCHELASTIC_USE_AGENT_STORE", "") == "True";
  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<std::uint16_t>(port);
    store_options.isServer = rank == 0 && !agent_store;
    store_options.numWorkers = world_size;
    store_options.waitWorkers = false;
    store_options.timeout = timeout;
    auto store = c10::make_intrusive<c10d::TCPStore>(host, store_options);
    // A prefix per launch and per group keeps the keys of earlier groups apart: a long-lived agent
    // store's, and those of this process's earlier groups (`run --rounds auto` opens one per round;
    // every rank opens them in the same order).
    static int groups = 0;
    auto prefixed = c10::make_intrusive<c10d::PrefixStore>(
        fmt::format("jcas/{}/{}", env_or("TORCHELASTIC_RESTART_COUNT", "0"), groups++), store);
    impl_->store = prefixed;
#ifdef JCAS_WITH_NCCL
    if (device.is_cuda()) {
      auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
      nccl_options->timeout = timeout;
      impl_->device = device;
      impl_->nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, rank, world_size, nccl_options);
      return;
    }
#endif
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    const std::string interface = env_or("GLOO_SOCKET_IFNAME", "");
    options->devices.push_back(!interface.empty()  ? c10d::ProcessGroupGloo::createDeviceForInterface(interface)
                               : is_loopback(host) ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                                   : c10d::ProcessGroupGloo::createDefaultDevice());
    impl_->gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, rank, world_size, options);
  } catch (const UserError&) {
    throw;
  } catch (const std::exception& e) {
    throw UserError(fmt::format("rank {} of {}: cannot join the process group at {}:{} within {} s (--dist_timeout; "
                                "MASTER_ADDR and MASTER_PORT must name rank 0's machine, reachable from every rank) "
                                "({})",
                                rank, world_size, host, port, timeout.count(), first_line(e)));
  }
}

ProcessGroup::~ProcessGroup() = default;

void ProcessGroup::all_reduce_sum(std::vector<at::Tensor>& tensors) const {
  flattened(tensors, impl_->device, [&](std::vector<at::Tensor>& one) {
    impl_->wait(impl_->with_group([&](auto& g) { return g.allreduce(one); }), "all-reduce");
  });
}

void ProcessGroup::broadcast_from_writer(std::vector<at::Tensor>& tensors) const {
  c10d::BroadcastOptions options;
  options.rootRank = 0;
  flattened(tensors, impl_->device, [&](std::vector<at::Tensor>& one) {
    impl_->wait(impl_->with_group([&](auto& g) { return g.broadcast(one, options); }), "broadcast from rank 0");
  });
}

std::vector<at::Tensor> ProcessGroup::all_gather(const at::Tensor& tensor) const {
  std::vector<at::Tensor> input = {tensor.contiguous().to(impl_->device)};
  std::vector<std::vector<at::Tensor>> output(1);
  const int size = impl_->with_group([](auto& g) { return g.getSize(); });
  for (int r = 0; r < size; ++r) output[0].push_back(torch::empty_like(input[0]));
  impl_->wait(impl_->with_group([&](auto& g) { return g.allgather(output, input); }), "all-gather");
  for (auto& t : output[0]) t = t.to(tensor.device());
  return output[0];
}

void ProcessGroup::barrier(const std::string& what) const {
  impl_->wait(impl_->with_group([](auto& g) { return g.barrier(); }), what);
}

void ProcessGroup::post(const std::string& key, const std::string& value) const {
  impl_->store->set(key, std::vector<uint8_t>(value.begin(), value.end()));
}

std::string ProcessGroup::await(const std::string& key, std::chrono::seconds timeout, const std::string& what) const {
  try {
    impl_->store->wait({key}, timeout);
    const std::vector<uint8_t> value = impl_->store->get(key);
    return std::string(value.begin(), value.end());
  } catch (const std::exception& e) {
    throw UserError(fmt::format("rank {}: {} failed: rank 0 stopped, or did not answer within {} s; its output says "
                                "why ({})",
                                impl_->rank, what, timeout.count(), first_line(e)));
  }
}

}  // namespace jcas
