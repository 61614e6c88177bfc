#include "stages/ntm_from_pseudo_labels.h"

#include <fmt/format.h>

#include "adapters/foundation/error.h"
#include "pipeline/method/ntm_estimators.h"

namespace jcas {

void NtmEstimatorChoice::bind(OptionBinder& b) {
  std::string names;
  for (const auto& e : ntm_estimators()) names += (names.empty() ? "" : " | ") + e.name;
  b.bind("estimator", &estimator, "T_C estimator (" + names + ")");
}

void NtmEstimatorChoice::check() const {
  try {
    ntm_estimator(estimator);
  } catch (const UserError& e) {
    throw UserError(fmt::format("--estimate_ntm.estimator: {}", e.what()));
  }
}

torch::Tensor class_distribution(const torch::Tensor& labels, int k) {
  auto flat = labels.reshape({-1}).to(torch::kLong);
  flat = flat.index({flat != 255});
  auto counts = torch::bincount(flat, {}, k).slice(0, 0, k).to(torch::kFloat64);
  return (counts / std::max(1.0, counts.sum().item<double>())).to(torch::kFloat32);
}

torch::Tensor estimate_class_ntm_from(const PseudoLabels& pseudo, const torch::Tensor& labels,
                                      const std::string& estimator, int k, const torch::Tensor& clean) {
  auto probs = pseudo.probabilities.to(torch::kFloat32);
  auto flat_probs = probs.permute({0, 2, 3, 1}).reshape({-1, probs.size(1)});
  auto flat_noisy = pseudo.at_prob_resolution(labels).reshape({-1});
  torch::Tensor flat_clean = clean.defined() ? pseudo.at_prob_resolution(clean).reshape({-1}) : torch::Tensor();
  return estimate_class_ntm(estimator, flat_probs, flat_noisy, flat_clean, k);
}

}  // namespace jcas
