#pragma once
// How this process takes part in a run: its device, and its place among the processes of a
// data-parallel run (rank, world size, c10d process group). Stages and the trainer read it: the
// sampler takes a rank's share of each epoch, the gradient step averages over the group, and
// only the writer (rank 0) commits results and checkpoints. One process is the world of size 1.
#include <c10/core/Device.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/execution/run_options.h"

namespace at {
class Tensor;
}

namespace jcas {

class ProcessGroup;

class ExecutionContext {
 public:
  ExecutionContext() = default;
  // The device of `run` (validated first: cuda needs a LibTorch built with CUDA and a device)
  // and the process's place from torchrun's environment (RANK, WORLD_SIZE); with several
  // processes it joins their Gloo process group at MASTER_ADDR:MASTER_PORT.
  static ExecutionContext from(const RunOptions& run);

  c10::Device device() const { return device_; }
  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  bool is_writer() const { return rank_ == 0; }
  // The indices of an epoch's sample order that this rank trains on: every world_size-th one.
  std::vector<size_t> shard(const std::vector<size_t>& order) const;
  // Averages the gradients of `parameters` over the process group, each rank weighted by
  // `weight`: what its loss is a mean over (the labelled pixels of its batch), so that W ranks of
  // batch B step as one process of batch W x B, ignored pixels included.
  // As DDP: a gradient some ranks left undefined (a rank with an empty last batch) counts as zeros
  // there; one that no rank produced stays undefined, so the optimiser skips the parameter (no
  // weight decay, no momentum step) as one process would.
  void average_gradients(const std::vector<at::Tensor>& parameters, double weight) const;

  // Collectives over the group; with one process they leave everything as it is.
  void all_reduce_sum(std::vector<at::Tensor>& tensors) const;
  void broadcast_from_writer(std::vector<at::Tensor>& tensors) const;
  std::vector<at::Tensor> all_gather(const at::Tensor& tensor) const;
  void barrier(const std::string& what) const;
  // Runs `writer_part` on rank 0 while the other ranks wait for it, however long it takes (it may
  // wait for another run's lock): not a collective, so the collectives' timeout does not apply.
  // Returns its text on every rank; when it throws, the others fail naming rank 0's error.
  std::string after_writer(const std::string& what, const std::function<std::string()>& writer_part) const;

 private:
  c10::Device device_ = c10::Device(c10::DeviceType::CPU);
  int rank_ = 0, world_size_ = 1;
  std::shared_ptr<ProcessGroup> group_;  // null for one process
};

}  // namespace jcas
