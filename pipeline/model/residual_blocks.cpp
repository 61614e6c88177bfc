#include "pipeline/model/residual_blocks.h"

namespace jcas {
namespace {

namespace nn = torch::nn;

nn::Conv2d conv(int in, int out, int k, int stride = 1, int dilation = 1) {
  // "Same" padding for odd kernels at any dilation; no bias before BatchNorm.
  return nn::Conv2d(nn::Conv2dOptions(in, out, k).stride(stride).padding(dilation * (k / 2)).dilation(dilation).bias(false));
}

nn::Sequential shortcut(int in, int out, int stride) {
  if (in == out && stride == 1) return nullptr;
  return nn::Sequential(conv(in, out, 1, stride), SyncBatchNorm2d(out));
}

}  // namespace

BasicBlockImpl::BasicBlockImpl(const BlockSpec& s) {
  conv1 = register_module("conv1", conv(s.in_channels, s.channels, 3, s.stride, s.dilation));
  bn1 = register_module("bn1", SyncBatchNorm2d(s.channels));
  conv2 = register_module("conv2", conv(s.channels, s.channels, 3, 1, s.dilation));
  bn2 = register_module("bn2", SyncBatchNorm2d(s.channels));
  if (auto d = shortcut(s.in_channels, s.channels, s.stride)) downsample = register_module("downsample", d);
}

torch::Tensor BasicBlockImpl::forward(torch::Tensor x) {
  auto y = torch::relu(bn1(conv1(x)));
  y = bn2(conv2(y));
  return torch::relu(y + (downsample ? downsample->forward(x) : x));
}

BottleneckImpl::BottleneckImpl(const BlockSpec& s) {
  const int out = s.channels * expansion;
  conv1 = register_module("conv1", conv(s.in_channels, s.channels, 1));
  bn1 = register_module("bn1", SyncBatchNorm2d(s.channels));
  conv2 = register_module("conv2", conv(s.channels, s.channels, 3, s.stride, s.dilation));
  bn2 = register_module("bn2", SyncBatchNorm2d(s.channels));
  conv3 = register_module("conv3", conv(s.channels, out, 1));
  bn3 = register_module("bn3", SyncBatchNorm2d(out));
  if (auto d = shortcut(s.in_channels, out, s.stride)) downsample = register_module("downsample", d);
}

torch::Tensor BottleneckImpl::forward(torch::Tensor x) {
  auto y = torch::relu(bn1(conv1(x)));
  y = torch::relu(bn2(conv2(y)));
  y = bn3(conv3(y));
  return torch::relu(y + (downsample ? downsample->forward(x) : x));
}

nn::Sequential make_stage(bool bottleneck, int in_channels, int channels, int blocks, int stride, int dilation,
                          int& out_channels) {
  nn::Sequential stage;
  int in = in_channels;
  for (int b = 0; b < blocks; ++b) {
    BlockSpec spec{in, channels, b == 0 ? stride : 1, dilation};
    if (bottleneck) {
      stage->push_back(Bottleneck(spec));
      in = channels * BottleneckImpl::expansion;
    } else {
      stage->push_back(BasicBlock(spec));
      in = channels * BasicBlockImpl::expansion;
    }
  }
  out_channels = in;
  return stage;
}

}  // namespace jcas
