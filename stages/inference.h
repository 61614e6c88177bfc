#pragma once
// Model inference over a dataset, shared by the pseudo-label and evaluate stages.
#include <functional>
#include <string>

#include "adapters/io/segmentation_dataset.h"
#include "pipeline/method/jcas_loss.h"
#include "pipeline/metrics/segmentation_metrics.h"
#include "pipeline/model/segmentation_model.h"
#include "pipeline/runner/execution_context.h"

namespace jcas {

// B x K x H x W class probabilities for images B x 3 x H x W (no grad).
torch::Tensor predict_batch(SegmentationModel& model, const torch::Tensor& images, const InferenceMode& mode);

// Predicts every image of `dataset` and hands visit(index, sample, probabilities K x H x W on CPU)
// in index order; the sample carries its label when the dataset has labels. In a data-parallel
// run the ranks split the batches and every rank visits every image (all-gathered), each with
// exactly the probabilities one process computes.
void predict_dataset(SegmentationModel& model, const SegmentationDataset& dataset, const InferenceMode& mode,
                     const ExecutionContext& execution, const std::string& label,
                     const std::function<void(size_t, const Sample&, const torch::Tensor&)>& visit);

// Dice/Jaccard of the model's predictions on a labelled dataset.
SegmentationReport evaluate_model(SegmentationModel& model, const SegmentationDataset& dataset,
                                  const InferenceMode& mode, const ExecutionContext& execution,
                                  const std::string& label);

}  // namespace jcas
