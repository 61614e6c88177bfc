#pragma once
// A TorchScript segmentation model (trained in PyTorch, saved with torch.jit.save) adapted in C++
// through the SegmentationModel seam. The contract of its forward(x), x a float B x 3 x H x W
// batch in the model's own input convention:
//   - a logits tensor B x K x h x w, or
//   - a Dict[str, Tensor] with "out" (logits; torchvision's segmentation convention), optionally
//     "aux" (auxiliary logits) and embeddings "feat" (the main head's) or "feat1"/"feat2", or
//   - the reference network's tuple (feat1, feat2, pred1, pred2).
// Without "aux" the auxiliary head is the main one. Without embeddings the affinity branch works
// on the softmax of the logits (pairs are similar when their predicted class distributions are).
#include <torch/script.h>

#include <string>
#include <vector>

#include "adapters/foundation/option_binder.h"
#include "pipeline/model/segmentation_model.h"

namespace jcas {

enum class ChannelOrder { rgb, bgr };
template <>
struct EnumNames<ChannelOrder> {
  static const std::vector<std::pair<ChannelOrder, const char*>>& table();
};

// How the model wants its input, from 8-bit pixel values v: (v * scale - mean[c]) / std[c], in
// `channels` order. The default is torchvision's ImageNet normalisation.
struct InputConvention {
  ChannelOrder channels = ChannelOrder::rgb;
  double scale = 1.0 / 255.0;
  std::vector<double> mean = {0.485, 0.456, 0.406}, std = {0.229, 0.224, 0.225};
  void bind(OptionBinder& b);  // keys relative to the binder's section, prefixed "input_"
  void check() const;
};

class TorchScriptModel : public SegmentationModel {
 public:
  // Loads `file` and checks the contract on a 1 x 3 x height x width input: UserError naming the
  // file for a missing "out", a wrong class count or rank, or a forward that fails.
  TorchScriptModel(const std::string& file, InputConvention input, int num_classes, int height, int width);
  // The same from the serialized bytes (as a stage result stores them).
  TorchScriptModel(const std::string& bytes, const std::string& what, InputConvention input, int num_classes,
                   int height, int width);

  ModelOutput forward(const torch::Tensor& images) override;
  int num_classes() const override { return num_classes_; }
  // torchvision's heads ("classifier", "aux_classifier") train at 10x the backbone's rate.
  std::vector<torch::Tensor> backbone_parameters() const override;
  std::vector<torch::Tensor> head_parameters() const override;
  void set_training(bool on) override { module_.train(on); }
  void set_batchnorm_training(bool on) override;
  void move_to(const torch::Device& device) override { module_.to(device); }
  ModuleState state() const override;
  // The input convention, the size the contract was checked at, and the program as loaded.
  ModelDescription describe() const override;
  // The module with its current (adapted) parameters, in eval mode, as torch.jit.load reads it.
  void export_for_pytorch(const std::string& file, const std::string& readout) override;

 private:
  void check_contract(const std::string& what);
  std::string bytes_;
  std::pair<int, int> checked_;
  mutable torch::jit::Module module_;
  InputConvention input_;
  int num_classes_;
};

}  // namespace jcas
