#pragma once
// Model inference over a dataset, shared by the pseudo-label and evaluate stages.
#include <functional>
#include <string>

#include "adapters/io/segmentation_dataset.h"
#include "pipeline/method/jcas_loss.h"
#include "pipeline/metrics/segmentation_metrics.h"
#include "pipeline/model/deeplab.h"
#include "pipeline/runner/stage.h"

namespace jcas {

// The loss options that decide inference: the average of softmax(P_dar) and softmax(P) as the
// reference evaluates models trained with DAR; plain softmax(P) for the others (a source model's
// embedding was never trained for affinity).
using InferenceMode = JcasLossOptions;

// How the model held by `producer` (source or retrain[r]) is evaluated under `config`.
InferenceMode inference_mode(const PipelineConfig& config, const StageKey& producer);

// B x K x H x W class probabilities for images B x 3 x H x W (no grad).
torch::Tensor predict_batch(DeepLab& model, const torch::Tensor& images, const InferenceMode& mode);

// Predicts every image of `dataset` in order and hands visit(index, sample, probabilities K x H x W
// on CPU); the sample carries its label when the dataset has labels, so nothing is read twice.
void predict_dataset(DeepLab& model, const SegmentationDataset& dataset, const InferenceMode& mode,
                     torch::Device device, const std::string& label,
                     const std::function<void(size_t, const Sample&, const torch::Tensor&)>& visit);

// Dice/Jaccard of the model's predictions on a labelled dataset.
SegmentationReport evaluate_model(DeepLab& model, const SegmentationDataset& dataset, const InferenceMode& mode,
                                  torch::Device device, const std::string& label);

}  // namespace jcas
