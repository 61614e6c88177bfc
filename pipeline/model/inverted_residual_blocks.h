#pragma once
// MobileNetV2's blocks (Sandler et al., CVPR 2018) as torchvision builds them, parameter names
// included (conv.0.0.weight, ...), so torchvision's ImageNet weights load by name, with dilation
// in place of stride for DeepLab's output stride 8 (as torchvision's dilated MobileNetV3).
#include <torch/torch.h>

#include <array>

#include "pipeline/model/sync_batchnorm.h"

namespace jcas {

// Conv (no bias) + BatchNorm + ReLU6: torchvision's Conv2dNormActivation, children "0", "1", "2".
class ConvBnRelu6Impl : public torch::nn::SequentialImpl {
 public:
  ConvBnRelu6Impl(int in, int out, int kernel, int stride, int dilation, int groups);
  torch::Tensor forward(torch::Tensor x) { return SequentialImpl::forward(x); }
};
TORCH_MODULE(ConvBnRelu6);

// 1x1 expand (t > 1) + 3x3 depthwise (strided or dilated) + 1x1 linear projection, with the input
// added when the shape is kept.
class InvertedResidualImpl : public torch::nn::Module {
 public:
  InvertedResidualImpl(int in, int out, int stride, int dilation, int expand_ratio);
  torch::Tensor forward(torch::Tensor x);

 private:
  torch::nn::Sequential conv{nullptr};
  bool residual_;
};
TORCH_MODULE(InvertedResidual);

// torchvision's mobilenet_v2().features[0..17] (its last 1x1 conv to 1280 channels left out) as
// DeepLab's stem and four stages: features[0..1] (output stride 2), [2..3] (4), [4..6] (8),
// [7..13] (dilation 2 instead of stride 2; 96 channels), [14..17] (dilation 4; 320 channels).
struct MobileNetV2Stages {
  std::array<torch::nn::Sequential, 5> parts;  // stem, stage1, stage2, stage3, stage4
  int stage3_channels = 0, stage4_channels = 0;
};
MobileNetV2Stages make_mobilenet_v2_stages();

// Index of the first of torchvision's features[i] in each part above, and one past the last.
inline constexpr std::array<int, 6> kMobileNetV2PartStarts = {0, 2, 4, 7, 14, 18};

}  // namespace jcas
