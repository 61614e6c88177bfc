#pragma once
// ResNet residual blocks (He et al.) with BatchNorm and optional dilation, for the DeepLab backbone.
#include <torch/torch.h>

#include "pipeline/model/sync_batchnorm.h"

namespace jcas {

struct BlockSpec {
  int in_channels, channels, stride = 1, dilation = 1;
};

// Two 3x3 convs (ResNet-18/34 style); output width = channels.
class BasicBlockImpl : public torch::nn::Module {
 public:
  explicit BasicBlockImpl(const BlockSpec& s);
  torch::Tensor forward(torch::Tensor x);
  static constexpr int expansion = 1;

 private:
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  SyncBatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::Sequential downsample{nullptr};  // 1x1 conv + BN when the shape changes
};
TORCH_MODULE(BasicBlock);

// 1x1 reduce, 3x3 (strided/dilated), 1x1 expand (ResNet-50/101 style); output width = 4 x channels.
class BottleneckImpl : public torch::nn::Module {
 public:
  explicit BottleneckImpl(const BlockSpec& s);
  torch::Tensor forward(torch::Tensor x);
  static constexpr int expansion = 4;

 private:
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  SyncBatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(Bottleneck);

// A stage of `blocks` blocks; the first one carries the stride. `bottleneck` picks the block type.
// Returns the stage; `out_channels` receives its output width.
torch::nn::Sequential make_stage(bool bottleneck, int in_channels, int channels, int blocks, int stride,
                                 int dilation, int& out_channels);

}  // namespace jcas
