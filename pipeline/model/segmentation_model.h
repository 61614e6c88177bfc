#pragma once
// The model seam: what training, inference and the cache need of a segmentation network. The
// native DeepLab implements it; other models (a TorchScript module, a torchvision network) slot
// in by implementing the same few calls.
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "pipeline/model/sync_batchnorm.h"

namespace jcas {

// Named tensors of a model, in its order.
using ModuleState = std::vector<std::pair<std::string, torch::Tensor>>;

// What rebuilds a model besides its state (pipeline/model/model_kinds.h): the kind's name, its
// construction options as key/text pairs, and the program for a kind that carries one.
struct ModelDescription {
  std::string kind;
  std::vector<std::pair<std::string, std::string>> architecture;
  std::string program;  // the serialized TorchScript module; empty for a kind built from options alone
};

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
  // Training mode (BatchNorm statistics updated) or evaluation mode.
  virtual void set_training(bool on) = 0;
  // After set_training: the BatchNorm layers alone switched to training mode (normalising with
  // batch statistics and updating the running ones) or to evaluation mode (running statistics
  // used and left as they are).
  virtual void set_batchnorm_training(bool on) = 0;
  // A model whose BatchNorm synchronises over the replicas of a data-parallel run (the native
  // network with --model.batchnorm sync) takes their sum and this replica's loss weight here for
  // a training step (an empty function ends it; see SyncBatchNorm2dImpl::set_replicas) and returns
  // true: then every replica must run every training step's forward and backward, one without
  // samples on an empty batch. Other models return false.
  virtual bool set_batchnorm_replicas(const ReplicaSum& /*sum*/, double /*loss_weight*/) { return false; }
  // The parameters the reference keeps out of the optimiser besides BatchNorm's (conv1, layer1,
  // layer2 of its ResNet); empty where the model has no such known part.
  virtual std::vector<torch::Tensor> early_parameters() const { return {}; }
  virtual void move_to(const torch::Device& device) = 0;
  // Every parameter and buffer by its dotted name, as live tensors: what checkpoints and results
  // store (pipeline/model/model_io.h) and what a loaded state is copied into.
  virtual ModuleState state() const = 0;
  // Kind and construction options, so a stored result can rebuild the model (model_kinds.h).
  virtual ModelDescription describe() const = 0;
  // Writes the model with its current parameters as PyTorch loads it back; `readout` names the
  // read-out it was adapted for, recorded where the format has room for it.
  virtual void export_for_pytorch(const std::string& file, const std::string& readout) = 0;
};

}  // namespace jcas
