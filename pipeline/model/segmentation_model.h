#pragma once
// The model seam: what training, inference and the cache need of a segmentation network. The
// native DeepLab implements it; other models (a TorchScript module, a torchvision network) slot
// in by implementing the same few calls.
#include <torch/torch.h>

#include <string>
#include <vector>

namespace jcas {

// The reference network's outputs. A model without an auxiliary head or embeddings leaves those
// tensors undefined; the losses that need them say so.
struct ModelOutput {
  torch::Tensor feat1, feat2;  // embeddings of the aux head and the main head, B x d x h x w
  torch::Tensor pred1, pred2;  // logits of the aux head and the main head, B x K x h x w
};

class SegmentationModel {
 public:
  virtual ~SegmentationModel() = default;
  // images: B x 3 x H x W float in the model's input convention.
  virtual ModelOutput forward(const torch::Tensor& images) = 0;
  virtual int num_classes() const = 0;
  // Parameter groups for the optimiser: the reference trains the heads at 10x the backbone's lr.
  virtual std::vector<torch::Tensor> backbone_parameters() const = 0;
  virtual std::vector<torch::Tensor> head_parameters() const = 0;
  // The module holding every parameter and buffer: train()/eval(), to(device), and the state
  // written to and read from HDF5 (pipeline/model/model_io.h) by its dotted names.
  virtual torch::nn::Module& module() = 0;
  const torch::nn::Module& module() const { return const_cast<SegmentationModel*>(this)->module(); }
};

}  // namespace jcas
