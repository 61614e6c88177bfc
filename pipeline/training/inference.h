#pragma once
// Model inference over a dataset, shared by the pseudo-label and evaluate stages and `jcas predict`.
#include <functional>
#include <string>

#include "adapters/io/segmentation_dataset.h"
#include "pipeline/method/inference_mode.h"
#include "pipeline/metrics/segmentation_metrics.h"
#include "pipeline/model/segmentation_model.h"
#include "pipeline/execution/execution_context.h"

namespace jcas {

// B x K x H x W class probabilities for images B x 3 x H x W (no grad).
torch::Tensor predict_batch(SegmentationModel& model, const torch::Tensor& images, const InferenceMode& mode);

// What inference gives for one image, on CPU: the class probabilities K x H x W at the input size
// (the model's read-out: softmax or DAR) and the main head's logits K x h x w as the model outputs them;
// when asked for, the read-out of the horizontally mirrored image, mirrored back.
struct ImagePrediction {
  torch::Tensor probabilities, logits, mirrored;
};

// Predicts every image of `dataset` and hands visit(index, sample, prediction) in index order; the
// sample carries its label when the dataset has labels. In a data-parallel run the ranks split the
// batches and every rank visits every image (all-gathered), each with exactly the outputs one
// process computes. `mirrored_too`: also predict each image mirrored (a second forward pass).
void predict_images(SegmentationModel& model, const SegmentationDataset& dataset, const InferenceMode& mode,
                    const ExecutionContext& execution, const std::string& label,
                    const std::function<void(size_t, const Sample&, const ImagePrediction&)>& visit,
                    bool mirrored_too = false);

// The same, handing the probabilities only.
void predict_dataset(SegmentationModel& model, const SegmentationDataset& dataset, const InferenceMode& mode,
                     const ExecutionContext& execution, const std::string& label,
                     const std::function<void(size_t, const Sample&, const torch::Tensor&)>& visit);

// Dice/Jaccard of the model's predictions on a labelled dataset.
SegmentationReport evaluate_model(SegmentationModel& model, const SegmentationDataset& dataset,
                                  const InferenceMode& mode, const ExecutionContext& execution,
                                  const std::string& label);

}  // namespace jcas
