#pragma once
// The communication of a data-parallel run: c10d's ProcessGroupGloo over a TCPStore rendezvous,
// set up from torchrun's environment (MASTER_ADDR, MASTER_PORT) as torch.distributed does; on a
// CUDA device ProcessGroupNCCL where the LibTorch in use has it (JCAS_WITH_NCCL, set by CMake). Every
// collective waits at most the run's timeout; a peer that died or a collective that timed out
// becomes a UserError naming this rank, so every surviving rank exits non-zero.
#include <c10/core/Device.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace at {
class Tensor;
}

namespace jcas {

class ProcessGroup {
 public:
  // Joins the group as `rank` of `world_size` (blocks until all have joined, or `timeout`).
  // Collectives run on `device`'s tensors: NCCL for a CUDA device when built with it, else Gloo
  // (tensors of any device are copied to the group's device and back).
  ProcessGroup(int rank, int world_size, std::chrono::seconds timeout, c10::Device device);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  // In place: every rank ends with the element-wise sum over the ranks.
  void all_reduce_sum(std::vector<at::Tensor>& tensors) const;
  // In place: every rank ends with rank 0's values.
  void broadcast_from_writer(std::vector<at::Tensor>& tensors) const;
  // Every rank's `tensor` (same shape and type on every rank), in rank order.
  std::vector<at::Tensor> all_gather(const at::Tensor& tensor) const;
  // Returns once every rank has reached it; `what` names the point in messages.
  void barrier(const std::string& what) const;
  // Rank 0 posts `value` under `key` in the rendezvous store; the others wait for it up to
  // `timeout` (not the collectives' timeout: rank 0 may be waiting for a lock) and return it.
  void post(const std::string& key, const std::string& value) const;
  std::string await(const std::string& key, std::chrono::seconds timeout, const std::string& what) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace jcas
