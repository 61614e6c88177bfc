#pragma once
// T_C from a pseudo-label result, without ground truth: the estimate_ntm stage applies it to the
// pseudo labels themselves, the ablation to other noisy labels of the same images.
#include <torch/torch.h>

#include <string>

#include "adapters/foundation/option_binder.h"
#include "stages/stage_results.h"

namespace jcas {

// [estimate_ntm] estimator: which registered estimator reads the pseudo labels.
struct NtmEstimatorChoice {
  std::string estimator = "anchor";
  void bind(OptionBinder& b);  // keys relative to [estimate_ntm]
  void check() const;          // UserError naming the registered estimators
};

// K class proportions (float32) of label maps, ignore (255) pixels left out.
torch::Tensor class_distribution(const torch::Tensor& labels, int num_classes);

// T_C by `estimator` (pipeline/method/ntm_estimators.h) from the stored probabilities of `pseudo`
// against `labels` (N x H x W at the input size), both at the probabilities' resolution. `clean`
// (the same layout) only for estimators that need ground truth.
torch::Tensor estimate_class_ntm_from(const PseudoLabels& pseudo, const torch::Tensor& labels,
                                      const std::string& estimator, int num_classes,
                                      const torch::Tensor& clean = {});

}  // namespace jcas
