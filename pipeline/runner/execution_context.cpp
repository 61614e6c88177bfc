#include "pipeline/runner/execution_context.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cstdlib>
#include <string>

#include "adapters/foundation/error.h"

namespace jcas {
namespace {

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  try {
    return std::stoi(v);
  } catch (const std::exception&) {
    throw UserError(fmt::format("environment variable {}='{}' is not an integer", name, v));
  }
}

}  // namespace

ExecutionContext ExecutionContext::from(const RunOptions& run) {
  ExecutionContext e;
  if (run.device == DeviceKind::cuda) {
    if (!torch::cuda::is_available()) throw UserError("--device cuda: this LibTorch build has no usable CUDA device");
    e.device_ = c10::Device(c10::DeviceType::CUDA);
  }
  e.world_size_ = env_int("WORLD_SIZE", 1);
  e.rank_ = env_int("RANK", 0);
  if (e.world_size_ < 1 || e.rank_ < 0 || e.rank_ >= e.world_size_)
    throw UserError(fmt::format("RANK={} and WORLD_SIZE={} do not name a process of the run", e.rank_, e.world_size_));
  if (e.world_size_ > 1)
    throw UserError(fmt::format("WORLD_SIZE={}: this jcas runs one process per run; data-parallel runs over c10d "
                                "are not built yet",
                                e.world_size_));
  return e;
}

std::vector<size_t> ExecutionContext::shard(const std::vector<size_t>& order) const {
  if (world_size_ == 1) return order;
  std::vector<size_t> mine;
  for (size_t i = static_cast<size_t>(rank_); i < order.size(); i += static_cast<size_t>(world_size_))
    mine.push_back(order[i]);
  return mine;
}

void ExecutionContext::average_gradients(const std::vector<at::Tensor>&) const {
  // One process: its gradients are the average. A process group (world_size > 1) is refused in
  // from() until the c10d all-reduce lands here.
}

}  // namespace jcas
