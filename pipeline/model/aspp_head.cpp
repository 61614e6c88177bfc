#include "pipeline/model/aspp_head.h"

namespace jcas {

namespace nn = torch::nn;

AsppHeadImpl::AsppHeadImpl(const HeadSpec& s) {
  branches = register_module("branches", nn::ModuleList());
  for (int d : s.dilations) {
    branches->push_back(nn::Conv2d(
        nn::Conv2dOptions(s.in_channels, s.branch_channels, 3).padding(d).dilation(d).bias(false)));
  }
  bn = register_module("bn", SyncBatchNorm2d(s.branch_channels));
  if (s.branch_channels != s.embed_dim) {
    project = register_module(
        "project", nn::Sequential(nn::Conv2d(nn::Conv2dOptions(s.branch_channels, s.embed_dim, 1).bias(false)),
                                  SyncBatchNorm2d(s.embed_dim), nn::ReLU()));
  }
  if (s.logits)
    classifier = register_module("classifier", nn::Conv2d(nn::Conv2dOptions(s.embed_dim, s.num_classes, 1)));
}

std::pair<torch::Tensor, torch::Tensor> AsppHeadImpl::forward(torch::Tensor x) {
  torch::Tensor sum;
  for (const auto& b : *branches) {
    auto y = b->as<nn::Conv2d>()->forward(x);
    sum = sum.defined() ? sum + y : y;
  }
  auto feat = torch::relu(bn(sum));
  if (project) feat = project->forward(feat);
  return {feat, classifier ? classifier(feat) : torch::Tensor()};
}

}  // namespace jcas
