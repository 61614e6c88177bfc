#pragma once
// The BatchNorm layers of any SegmentationModel, found by their state's names (a layer is a prefix
// holding running_mean and running_var): what AdaBN re-estimates and what Tent or the reference's
// recipe trains or freezes. Works alike for the native network and a TorchScript module.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "pipeline/model/segmentation_model.h"

namespace jcas {

struct BatchNormLayer {
  std::string name;
  torch::Tensor running_mean, running_var;
  torch::Tensor num_batches_tracked;  // undefined if the layer has none
  torch::Tensor weight, bias;         // affine parameters; undefined for affine = False
};

std::vector<BatchNormLayer> batchnorm_layers(const SegmentationModel& model);
// Every BatchNorm layer's weight and bias.
std::vector<torch::Tensor> batchnorm_affine_parameters(const SegmentationModel& model);

// For its lifetime the model is in evaluation mode with BatchNorm normalising by each forward
// pass's own statistics (Tent's test-time normalisation); the running statistics it updates on the
// way are restored afterwards, so the model's state is as it was.
class BatchStatisticsScope {
 public:
  explicit BatchStatisticsScope(SegmentationModel& model);
  ~BatchStatisticsScope();
  BatchStatisticsScope(const BatchStatisticsScope&) = delete;
  BatchStatisticsScope& operator=(const BatchStatisticsScope&) = delete;

 private:
  SegmentationModel& model_;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> saved_;  // (live buffer, its copy)
};

}  // namespace jcas
