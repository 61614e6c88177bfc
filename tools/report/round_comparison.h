#pragma once
// Everything `jcas compare` shows about each round, gathered from the cached stage results (and the
// target ground truth where it exists). Rounds whose results are missing or stale say so.
#include <torch/torch.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/metrics/segmentation_metrics.h"
#include "pipeline/runner/pipeline_plan.h"

namespace jcas {

struct RoundSummary {
  int round = 0;
  bool has_pseudo_labels = false;
  std::vector<std::string> notes;  // missing/stale stages, figures that cannot be computed

  // Pseudo labels of this round (made by the model of round r) ...
  std::optional<SegmentationReport> pseudo_vs_truth;  // ... scored against ground truth
  double class_noise_rate = NAN, affinity_noise_rate = NAN;
  double mean_confidence = NAN;
  std::vector<double> class_dist;
  double changed_fraction = NAN;             // pixels whose label differs from the previous round's
  std::vector<double> changed_per_class;     // the same among pixels of each previous-round class

  // Noise transition matrices.
  std::string estimator;
  torch::Tensor estimated_class_ntm, true_class_ntm, class_to_affinity, true_affinity_ntm;
  std::map<std::string, double> estimator_errors;  // ‖T̂ − T‖₁ / K per estimator
  torch::Tensor learned_class_ntm, learned_affinity_ntm;  // end of retrain[r]

  // The model this round produced (model r+1) on the target test split.
  double test_mjac = NAN, test_mdice = NAN;
  int selected_epoch = 0;
};

struct RoundComparison {
  std::vector<std::string> class_names;
  bool has_truth = false;
  double source_test_mjac = NAN, source_test_mdice = NAN;
  std::vector<RoundSummary> rounds;
  // For the panels: image names and, per round with pseudo labels, N x H x W labels.
  std::vector<std::string> image_names;
  std::map<int, torch::Tensor> labels;
};

// `rounds` empty = every planned round.
RoundComparison compare_rounds(const PipelinePlan& plan, const std::vector<int>& rounds);

}  // namespace jcas
