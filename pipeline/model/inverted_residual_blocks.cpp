#include "pipeline/model/inverted_residual_blocks.h"

namespace jcas {

namespace nn = torch::nn;

ConvBnRelu6Impl::ConvBnRelu6Impl(int in, int out, int kernel, int stride, int dilation, int groups) {
  push_back(nn::Conv2d(nn::Conv2dOptions(in, out, kernel)
                           .stride(stride)
                           .padding(dilation * (kernel / 2))
                           .dilation(dilation)
                           .groups(groups)
                           .bias(false)));
  push_back(SyncBatchNorm2d(out));
  push_back(nn::ReLU6());
}

InvertedResidualImpl::InvertedResidualImpl(int in, int out, int stride, int dilation, int expand_ratio)
    : residual_(stride == 1 && in == out) {
  const int hidden = in * expand_ratio;
  nn::Sequential layers;
  if (expand_ratio != 1) layers->push_back(ConvBnRelu6(in, hidden, 1, 1, 1, 1));
  layers->push_back(ConvBnRelu6(hidden, hidden, 3, stride, dilation, hidden));
  layers->push_back(nn::Conv2d(nn::Conv2dOptions(hidden, out, 1).bias(false)));
  layers->push_back(SyncBatchNorm2d(out));
  conv = register_module("conv", layers);
}

torch::Tensor InvertedResidualImpl::forward(torch::Tensor x) {
  auto y = conv->forward(x);
  return residual_ ? x + y : y;
}

MobileNetV2Stages make_mobilenet_v2_stages() {
  // torchvision's table: expansion t, channels c, repeats n, stride s (width multiplier 1).
  struct Row {
    int t, c, n, s;
  };
  const Row rows[] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                      {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  std::vector<nn::AnyModule> features;
  std::vector<int> channels;  // features[i]'s output width
  features.emplace_back(ConvBnRelu6(3, 32, 3, 2, 1, 1));
  channels.push_back(32);
  int in = 32, output_stride = 2, dilation = 1;
  for (const Row& r : rows) {
    for (int i = 0; i < r.n; ++i) {
      int stride = i == 0 ? r.s : 1;
      if (stride == 2 && output_stride == 8) {  // past output stride 8: dilate instead
        dilation *= 2;
        stride = 1;
      } else if (stride == 2) {
        output_stride *= 2;
      }
      features.emplace_back(InvertedResidual(in, r.c, stride, dilation, r.t));
      channels.push_back(r.c);
      in = r.c;
    }
  }
  MobileNetV2Stages out;
  for (size_t part = 0; part < out.parts.size(); ++part) {
    out.parts[part] = nn::Sequential();
    for (int i = kMobileNetV2PartStarts[part]; i < kMobileNetV2PartStarts[part + 1]; ++i)
      out.parts[part]->push_back(features[static_cast<size_t>(i)]);
  }
  out.stage3_channels = channels[kMobileNetV2PartStarts[4] - 1];
  out.stage4_channels = channels.back();
  return out;
}

}  // namespace jcas
