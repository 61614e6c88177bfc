#pragma once
// The label-free criteria of a model on a dataset's images (pipeline/metrics/label_free_criteria.h):
// what the criteria stages record and what `--retrain.select CRITERION` selects epochs by.
#include <string>
#include <utility>
#include <vector>

#include "pipeline/execution/execution_context.h"
#include "pipeline/method/inference_mode.h"
#include "pipeline/metrics/label_free_criteria.h"
#include "pipeline/model/segmentation_model.h"
#include "adapters/io/segmentation_dataset.h"

namespace jcas {

// Every criterion by name (NaN where it does not apply), the labels of `images` unread. `mirrored`:
// also predict each image mirrored, for flip_agreement (a second inference pass).
std::vector<std::pair<std::string, double>> label_free_scores(SegmentationModel& model,
                                                              const SegmentationDataset& images,
                                                              const InferenceMode& mode,
                                                              const ExecutionContext& execution,
                                                              const std::string& label, bool mirrored,
                                                              const LabelFreeCriteriaOptions& options = {});

}  // namespace jcas
