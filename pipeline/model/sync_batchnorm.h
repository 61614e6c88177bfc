#pragma once
// BatchNorm2d that can normalise a data-parallel step with the statistics of every replica's batch
// together (synchronised BatchNorm: Peng et al., "MegDet", CVPR 2018; torch.nn.SyncBatchNorm).
// Without replicas it computes what torch::nn::BatchNorm2d computes, under the same parameter and
// buffer names. (Its own module: Debian's LibTorch does not export what a subclass of
// BatchNorm2dImpl links against.)
#include <torch/torch.h>

#include <functional>
#include <vector>

namespace jcas {

// Sums tensors element-wise over the replicas of a data-parallel run, in place: an all-reduce that
// every replica calls in the same order.
using ReplicaSum = std::function<void(std::vector<torch::Tensor>&)>;

class SyncBatchNorm2dImpl : public torch::nn::Cloneable<SyncBatchNorm2dImpl> {
 public:
  explicit SyncBatchNorm2dImpl(int64_t features);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& input);
  // While `sum` is set and the layer trains, a forward normalises with the mean and variance of
  // every replica's batch together (and updates the running statistics with them), and its
  // backward sums the replicas' gradient terms: W replicas of batch B compute what one replica of
  // batch W x B does, up to float rounding, when their gradients are then averaged weighted by
  // `loss_weight` (each replica's share of the step's loss: what its loss is a mean over). Every
  // replica must run every forward and backward, one without samples on an empty batch (weight
  // 0). Unset: this replica's batch alone.
  void set_replicas(ReplicaSum sum, double loss_weight) {
    replicas_ = std::move(sum);
    loss_weight_ = loss_weight;
  }

  torch::nn::BatchNormOptions options;
  // torch::nn::BatchNorm2d's parameters and buffers, under its names.
  torch::Tensor weight, bias, running_mean, running_var, num_batches_tracked;

 private:
  torch::Tensor synchronised(const torch::Tensor& input);
  // Counts a training batch; the weight of its statistics in the running ones.
  double running_factor();
  ReplicaSum replicas_;
  double loss_weight_ = 0;
};
TORCH_MODULE(SyncBatchNorm2d);

}  // namespace jcas
