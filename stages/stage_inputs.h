#pragma once
// What stages read: the configured datasets and the model a stage result holds.
#include <string>

#include "adapters/io/segmentation_dataset.h"
#include "pipeline/model/deeplab.h"
#include "pipeline/runner/stage.h"

namespace jcas {

// Source or target dataset of the pipeline at the configured input size.
SegmentationDataset open_source(const StageContext& ctx, const std::string& split);
SegmentationDataset open_target(const StageContext& ctx, const std::string& split, bool with_labels);
// Whether the target dataset ships ground truth (the embedded data does; real SFDA data may not).
bool target_has_labels(const StageContext& ctx);
// Class count of the target dataset (the model's K).
int target_num_classes(const StageContext& ctx);

ModelOptions model_options(const PipelineConfig& config, int num_classes);
// A freshly initialised model; the initialisation follows the seed.
DeepLab build_model(const PipelineConfig& config, int num_classes, uint64_t seed);

// The stage whose result holds the model that round `round` starts from:
// round 0 -> source, round r -> retrain[r-1] (the model of round r).
StageKey model_of_round(int round);
// Loads the weights stored under "model/" in a stage result, on the configured device, eval mode.
DeepLab load_model(const StageContext& ctx, const StageKey& producer, int num_classes);
torch::Device torch_device(const StageContext& ctx);

}  // namespace jcas
