#pragma once
// Segmentation head: DeepLab-v2's classifier (parallel dilated 3x3 convs, summed) turned into an
// embedding + logits pair, as the JCAS affinity branch needs the pre-classifier embedding.
#include <torch/torch.h>

#include <utility>
#include <vector>

#include "pipeline/model/sync_batchnorm.h"

namespace jcas {

struct HeadSpec {
  int in_channels;
  int branch_channels;  // width of each dilated branch; == embed_dim means no 1x1 projection
  int embed_dim;
  int num_classes;
  std::vector<int> dilations;
  bool logits = true;  // false: an embedding head alone (the reference's layer_feat1/layer_feat2)
};

class AsppHeadImpl : public torch::nn::Module {
 public:
  explicit AsppHeadImpl(const HeadSpec& s);
  // Returns {embedding (B x embed_dim x h x w), logits (B x K x h x w; undefined without them)}.
  std::pair<torch::Tensor, torch::Tensor> forward(torch::Tensor x);

 private:
  torch::nn::ModuleList branches{nullptr};
  SyncBatchNorm2d bn{nullptr};
  torch::nn::Sequential project{nullptr};  // 1x1 conv + BN + ReLU to embed_dim, when branches are narrower
  torch::nn::Conv2d classifier{nullptr};
};
TORCH_MODULE(AsppHead);

}  // namespace jcas
