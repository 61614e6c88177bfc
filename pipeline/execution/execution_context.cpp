#include "pipeline/execution/execution_context.h"

#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <string>

#include "adapters/foundation/error.h"
#include "adapters/foundation/torchrun_environment.h"
#include "pipeline/execution/process_group.h"

namespace jcas {
ExecutionContext ExecutionContext::from(const RunOptions& run) {
  ExecutionContext e;
  const TorchrunEnvironment env = read_torchrun_environment();
  if (run.device == DeviceKind::cuda) {
    if (!torch::cuda::is_available())
      throw UserError(
          "--device cuda: this LibTorch has no usable CUDA device (Debian's libtorch-dev is built for the CPU only): "
          "build jcas against a CUDA build of LibTorch from pytorch.org with -DTorch_DIR=<libtorch>/share/cmake/Torch "
          "(README: Scaling out), or run with --device cpu");
    // One GPU per local rank, as torchrun's users expect: cuda:LOCAL_RANK, made the current device.
    const int gpus = static_cast<int>(torch::cuda::device_count());
    if (env.local_world_size > gpus)
      throw UserError(fmt::format("--device cuda: {} processes on this machine (LOCAL_WORLD_SIZE) but {} visible "
                                  "GPU(s): start at most {} per machine (--nproc, torchrun --nproc_per_node)",
                                  env.local_world_size, gpus, gpus));
    e.device_ = c10::Device(c10::DeviceType::CUDA, static_cast<c10::DeviceIndex>(env.local_rank));
    c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA)->setDevice(e.device_);
  }
  e.world_size_ = env.world_size;
  e.rank_ = env.rank;
  if (e.world_size_ > 1)
    e.group_ = std::make_shared<ProcessGroup>(e.rank_, e.world_size_, std::chrono::seconds(run.dist_timeout), e.device_);
  return e;
}

std::vector<size_t> ExecutionContext::shard(const std::vector<size_t>& order) const {
  if (world_size_ == 1) return order;
  std::vector<size_t> mine;
  for (size_t i = static_cast<size_t>(rank_); i < order.size(); i += static_cast<size_t>(world_size_))
    mine.push_back(order[i]);
  return mine;
}

void ExecutionContext::average_gradients(const std::vector<at::Tensor>& parameters, double weight) const {
  if (!group_) return;  // one process: its gradients are the average
  torch::NoGradGuard no_grad;
  // First which parameters any rank has a gradient for (and the weights of all ranks), then the sums.
  const auto n = static_cast<int64_t>(parameters.size());
  std::vector<at::Tensor> counts = {torch::zeros({n + 1}, torch::kFloat64)};
  auto* count = counts[0].data_ptr<double>();
  for (int64_t i = 0; i < n; ++i) count[i] = parameters[i].grad().defined() ? 1 : 0;
  count[n] = weight;
  group_->all_reduce_sum(counts);
  count = counts[0].data_ptr<double>();
  std::vector<at::Tensor> sums, averaged;
  for (int64_t i = 0; i < n; ++i) {
    if (count[i] == 0) continue;
    at::Tensor p = parameters[i];
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    sums.push_back(p.grad().mul_(weight));
    averaged.push_back(p.grad());
  }
  if (!sums.empty()) group_->all_reduce_sum(sums);
  for (auto& g : averaged) g.div_(count[n]);
}

void ExecutionContext::all_reduce_sum(std::vector<at::Tensor>& tensors) const {
  if (group_) group_->all_reduce_sum(tensors);
}

void ExecutionContext::broadcast_from_writer(std::vector<at::Tensor>& tensors) const {
  if (group_) group_->broadcast_from_writer(tensors);
}

std::vector<at::Tensor> ExecutionContext::all_gather(const at::Tensor& tensor) const {
  if (!group_) return {tensor};
  return group_->all_gather(tensor);
}

void ExecutionContext::barrier(const std::string& what) const {
  if (group_) group_->barrier(what);
}

std::string ExecutionContext::after_writer(const std::string& what,
                                           const std::function<std::string()>& writer_part) const {
  if (!group_) return writer_part();
  // Each call its own key: a session may wait for rank 0 more than once.
  static int calls = 0;
  const std::string key = fmt::format("after_writer/{}", calls++);
  if (is_writer()) {
    try {
      const std::string text = writer_part();
      group_->post(key, "ok:" + text);
      return text;
    } catch (const std::exception& e) {
      group_->post(key, std::string("error:") + e.what());
      throw;
    }
  }
  const std::string answer = group_->await(key, std::chrono::hours(24 * 30), what);
  if (answer.rfind("error:", 0) == 0)
    throw UserError(fmt::format("rank {}: {}: rank 0 failed: {}", rank_, what, answer.substr(6)));
  return answer.substr(3);
}

}  // namespace jcas
