#pragma once
// DeepLab-style segmentation network with two heads, the interface of the JCAS reference model.
//
// Layout (every preset, DeepLab-v2 style, output stride 8):
//   backbone.stem     stride 2 conv + BN + ReLU + 3x3/2 max-pool          (OS 4)
//   backbone.stage1   residual blocks, stride 1                           (OS 4)
//   backbone.stage2   residual blocks, stride 2                           (OS 8)
//   backbone.stage3   residual blocks, stride 1, dilation 2               (OS 8) -> aux_head
//   backbone.stage4   residual blocks, stride 1, dilation 4               (OS 8) -> main_head
// A 128x160 input gives 16x20 maps (inputs whose sides are multiples of 8 map exactly).
// Preset "mobilenet_v2" puts torchvision's MobileNetV2 (inverted_residual_blocks.h) in the same
// five parts: its features[0..17], dilated past output stride 8.
//
// Each head is the DeepLab-v2 classifier made to expose an embedding: parallel dilated 3x3 convs
// summed, BN, ReLU; for "small" a 1x1 conv + BN + ReLU then widens to the embedding width (the
// dilated convs stay narrow, which is where the CPU time would go). The embedding is `feat`;
// `pred` = 1x1 conv (with bias) on it, so `feat` is exactly the pre-classifier representation;
// with embedding "separate", `feat` comes from a head of the same shape without a classifier.
// The head dilations default to {1, 2, 3} instead of DeepLab-v2's {6, 12, 18, 24}: at 16x20
// maps a dilation of 12 or more reaches past the map and only sees padding.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "adapters/foundation/option_binder.h"
#include "pipeline/model/aspp_head.h"
#include "pipeline/model/segmentation_model.h"

namespace jcas {

struct ModelOptions {
  int num_classes = 4;
  // "small" (basic blocks, CPU default) | "resnet101" (bottlenecks {3,4,23,3}, width 64) |
  // "mobilenet_v2" (torchvision's, width 1). resnet101 and mobilenet_v2 name their backbone
  // parameters so that torchvision's ImageNet weights load (torchvision_weights.h).
  std::string preset = "small";
  int width = 24;                // base channels of "small" (24: ~9 it/s training at batch 4, 128x160 on one core)
  std::vector<int> blocks = {1, 1, 2, 2};  // residual blocks per stage for "small"
  // Stage widths of "small" = width x these. The last stage keeps the resolution of the third
  // (dilated, not strided), so doubling its width as ResNet does would quadruple its cost.
  std::vector<int> width_multipliers = {1, 2, 4, 4};
  int feat1_dim = 64, feat2_dim = 128;     // embedding widths (reference: 128 and 256)
  std::vector<int> dilations = {1, 2, 3};  // head dilations, scaled down for small maps (see above)
  int head_width = 64;  // channels of the dilated branches of the heads ("resnet101": the embedding width)
  // "batch": training normalises with each batch's statistics (per rank in a data-parallel run, as
  // DDP does); "sync": with the statistics of all ranks' batches together (SyncBatchNorm; one
  // process: as "batch"); "frozen": BatchNorm always uses its running statistics and leaves them as
  // they are (affine weights still train). With "sync" or "frozen" the result does not depend on
  // how a global batch is split over ranks, up to float rounding.
  std::string batchnorm = "batch";
  // "shared": a head's embedding is its classifier's input; "separate": the reference's embedding
  // heads (layer_feat1/2), parallel to the classifiers, so the affinity loss does not act on the
  // features the classifier reads.
  std::string embedding = "shared";
  // What the network does with the dataset's images (BGR, (v - 128) / 128) before its first layer:
  // "reference" nothing (the reference's convention); "imagenet" turns them into what torchvision's
  // ImageNet weights expect (RGB, v / 255, minus mean 0.485,0.456,0.406, over std 0.229,0.224,0.225).
  std::string input_norm = "reference";

  // preset, width, feat1_dim, feat2_dim (keys relative to the binder's section); the class count
  // comes from the data.
  void bind(OptionBinder& b);
  // Throws UserError naming the option for an unknown preset or a non-positive size.
  void check() const;
};

class DeepLabImpl : public torch::nn::Module, public SegmentationModel {
 public:
  explicit DeepLabImpl(ModelOptions o);
  ModelOutput forward(const torch::Tensor& x) override;
  const ModelOptions& options() const { return options_; }

  int num_classes() const override { return options_.num_classes; }
  std::vector<torch::Tensor> backbone_parameters() const override;
  std::vector<torch::Tensor> head_parameters() const override;
  void set_batchnorm_training(bool on) override;
  bool set_batchnorm_replicas(const ReplicaSum& sum, double loss_weight) override;
  // backbone.stem, stage1 and stage2: the reference's conv1, layer1 and layer2.
  std::vector<torch::Tensor> early_parameters() const override;
  void set_training(bool on) override;
  void move_to(const torch::Device& device) override { to(device); }
  ModuleState state() const override;
  ModelDescription describe() const override;
  // A file torch.load reads: {"format", "input", "readout", "options", "state_dict"}, which
  // tools/python/jcas_native.py turns back into a PyTorch module (deeplab_export.cpp).
  void export_for_pytorch(const std::string& file, const std::string& readout) override;

 private:
  void build_resnet_backbone(int& c3, int& c4);
  void register_heads(int c3, int c4);
  torch::Tensor normalise_input(const torch::Tensor& x) const;  // per input_norm

  ModelOptions options_;
  std::shared_ptr<torch::nn::Module> backbone_;  // holds stem and stage1..4, so names read "backbone.stage1.0..."
  torch::nn::Sequential stem_{nullptr}, stage1_{nullptr}, stage2_{nullptr}, stage3_{nullptr}, stage4_{nullptr};
  AsppHead aux_head_{nullptr}, main_head_{nullptr};
  AsppHead aux_embedding_{nullptr}, main_embedding_{nullptr};  // embedding "separate" only
};
TORCH_MODULE(DeepLab);

}  // namespace jcas
