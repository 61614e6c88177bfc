#include "pipeline/method/ntm_estimators.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <limits>
#include <stdexcept>

#include "adapters/foundation/error.h"
#include "pipeline/metrics/label_noise_stats.h"

namespace jcas {
namespace {

torch::Tensor labels_of(const torch::Tensor& t, int64_t p, int k, const char* what) {
  auto l = t.reshape(-1).to(torch::kLong);
  if (l.numel() != p)
    throw std::invalid_argument(fmt::format("estimate_class_ntm: {} labels has {} entries, probs has {} rows", what,
                                            l.numel(), p));
  if (((l < 0) | ((l >= k) & (l != 255))).any().item<bool>())
    throw std::invalid_argument(fmt::format("estimate_class_ntm: {} labels hold a value outside 0..{} and 255", what, k - 1));
  return l;
}

torch::Tensor confident_joint(const torch::Tensor& probs, const torch::Tensor& noisy, int k) {
  auto valid = noisy != 255;
  auto p = probs.index({valid});
  auto y = noisy.index({valid});
  auto label_counts = torch::bincount(y, {}, k).to(torch::kFloat64);
  // Per-class self-confidence threshold: mean p_j over the pixels labelled j.
  auto sums = torch::zeros({k, k}, torch::kFloat64).index_add_(0, y, p);
  auto thresholds = torch::where(label_counts > 0, sums.diagonal() / label_counts.clamp_min(1),
                                 torch::full({k}, std::numeric_limits<double>::infinity(), torch::kFloat64));
  auto above = p >= thresholds.unsqueeze(0);
  auto confident = above.any(1);
  auto assigned = torch::where(above, p, torch::full_like(p, -1.0)).argmax(1);
  auto cj = torch::bincount(assigned.index({confident}) * k + y.index({confident}), {}, int64_t(k) * k)
                .to(torch::kFloat64)
                .reshape({k, k});
  // Calibration: each noisy-label column totals that label's count.
  auto col = cj.sum(0);
  cj = torch::where(col > 0, cj * (label_counts / col.clamp_min(1e-300)), cj);
  return row_normalize_or_identity(cj);
}

torch::Tensor anchor_points(const torch::Tensor& probs, const torch::Tensor& noisy, int k, double quantile) {
  if (!(quantile >= 0 && quantile <= 1))
    throw UserError(fmt::format("anchor quantile must be in [0, 1], got {}", quantile));
  auto p = noisy.defined() ? probs.index({noisy != 255}) : probs;
  const int64_t n = p.size(0);
  auto t = torch::eye(k, torch::kFloat64);
  if (n == 0) return t;
  for (int i = 0; i < k; ++i) {
    auto col = p.select(1, i).contiguous();
    // kthvalue is 1-based: the value at the quantile position of the sorted column.
    const int64_t pos = std::min<int64_t>(n, 1 + static_cast<int64_t>(std::floor(quantile * double(n - 1))));
    auto threshold = std::get<0>(torch::kthvalue(col, pos));
    t[i].copy_(p.index({col >= threshold}).mean(0));
  }
  return row_normalize_or_identity(t);
}

// Per-class anchors: row i is the mean of `probs` over the pixels labelled i (argmax i without noisy
// labels) whose probability of class i is at or above that group's `quantile` quantile. The global
// quantile of "anchor" cannot isolate a class covering less than 1 − quantile of the pixels: its
// top pixels then include other classes' pixels.
torch::Tensor class_anchor_points(const torch::Tensor& probs, const torch::Tensor& noisy, int k, double quantile) {
  if (!(quantile >= 0 && quantile <= 1))
    throw UserError(fmt::format("anchor quantile must be in [0, 1], got {}", quantile));
  const auto labels = noisy.defined() ? noisy : probs.argmax(1);
  auto t = torch::eye(k, torch::kFloat64);
  for (int i = 0; i < k; ++i) {
    auto p = probs.index({labels == i});
    const int64_t n = p.size(0);
    if (n == 0) continue;  // no evidence: an identity row
    auto col = p.select(1, i).contiguous();
    const int64_t pos = std::min<int64_t>(n, 1 + static_cast<int64_t>(std::floor(quantile * double(n - 1))));
    auto threshold = std::get<0>(torch::kthvalue(col, pos));
    t[i].copy_(p.index({col >= threshold}).mean(0));
  }
  return row_normalize_or_identity(t);
}

// Row i: where the pixels that are of class i (weighted by the posterior p_i) carry each noisy label.
// Under calibration, P(clean i, noisy j) = E[p_i(x) · 1(noisy(x) = j)] exactly.
torch::Tensor posterior_confusion(const torch::Tensor& probs, const torch::Tensor& noisy, int k) {
  auto valid = noisy != 255;
  auto p = probs.index({valid});
  auto y = noisy.index({valid});
  auto joint = torch::zeros({k, k}, torch::kFloat64).index_add_(1, y, p.t());
  return row_normalize_or_identity(joint);
}

torch::Tensor identity_prior(int k) {
  // rownormalize(I + σ(W) ⊙ (1 − I)) with W = −2 everywhere.
  const double s = 1.0 / (1.0 + std::exp(2.0));
  auto t = torch::full({k, k}, s / (1.0 + (k - 1) * s), torch::kFloat64);
  t.fill_diagonal_(1.0 / (1.0 + (k - 1) * s));
  return t;
}

}  // namespace

const std::vector<NtmEstimator>& ntm_estimators() {
  static const std::vector<NtmEstimator> registry = {
      {"confident", "confident joint of probabilities and noisy labels (Northcutt et al.)", false,
       [](const NtmEstimatorInput& in) {
         if (!in.noisy.defined()) throw std::invalid_argument("estimate_class_ntm: confident needs noisy labels");
         return confident_joint(in.probs, in.noisy, in.num_classes);
       }},
      {"anchor", "anchor points: mean probabilities of each class's most confident pixels (Patrini et al.)", false,
       [](const NtmEstimatorInput& in) {
         return anchor_points(in.probs, in.noisy, in.num_classes, in.anchor_quantile);
       }},
      {"class_anchor", "anchor points taken per class: each class's quantile among the pixels labelled with it", false,
       [](const NtmEstimatorInput& in) {
         return class_anchor_points(in.probs, in.noisy, in.num_classes, in.anchor_quantile);
       }},
      {"posterior", "the probabilities read as the clean posterior: the confusion the model expects of its labels", false,
       [](const NtmEstimatorInput& in) {
         if (!in.noisy.defined()) throw std::invalid_argument("estimate_class_ntm: posterior needs noisy labels");
         return posterior_confusion(in.probs, in.noisy, in.num_classes);
       }},
      {"oracle", "confusion of the noisy labels against ground truth (evaluation only)", true,
       [](const NtmEstimatorInput& in) {
         if (!in.noisy.defined()) throw std::invalid_argument("estimate_class_ntm: oracle needs noisy labels");
         LabelNoiseStats stats(in.num_classes);
         stats.add(in.clean, in.noisy);
         return stats.class_ntm();
       }},
      {"identity", "no prior: the reference's W = -2 initialisation", false,
       [](const NtmEstimatorInput& in) { return identity_prior(in.num_classes); }},
  };
  return registry;
}

const NtmEstimator& ntm_estimator(const std::string& name) {
  for (const auto& e : ntm_estimators())
    if (e.name == name) return e;
  throw UserError(fmt::format("unknown NTM estimator '{}' (expected {})", name, fmt::join(ntm_estimator_names(), ", ")));
}

std::vector<std::string> ntm_estimator_names() {
  std::vector<std::string> names;
  for (const auto& e : ntm_estimators()) names.push_back(e.name);
  return names;
}

torch::Tensor estimate_class_ntm(const std::string& method, const torch::Tensor& probs, const torch::Tensor& noisy,
                                 const torch::Tensor& clean, int num_classes, double anchor_quantile) {
  const NtmEstimator& estimator = ntm_estimator(method);
  const int k = num_classes;
  if (k < 2) throw std::invalid_argument("estimate_class_ntm: num_classes must be >= 2");
  NtmEstimatorInput in;
  in.num_classes = k;
  in.anchor_quantile = anchor_quantile;
  if (method != "identity") {  // the prior reads no data
    if (!probs.defined() || probs.dim() != 2 || probs.size(1) != k)
      throw std::invalid_argument(fmt::format("estimate_class_ntm: probs must be P x {}", k));
    in.probs = probs.to(torch::kFloat64);
    if (noisy.defined()) in.noisy = labels_of(noisy, in.probs.size(0), k, "noisy");
  }
  if (estimator.needs_clean_labels) {
    if (!clean.defined() || clean.numel() == 0)
      throw UserError(fmt::format("NTM estimator '{}' needs ground-truth labels, and none were given", method));
    in.clean = labels_of(clean, in.probs.size(0), k, "clean");
  }
  return estimator.estimate(in).to(torch::kFloat32);
}

double ntm_estimation_error(const torch::Tensor& estimate, const torch::Tensor& truth) {
  if (estimate.sizes() != truth.sizes() || estimate.dim() != 2)
    throw std::invalid_argument(fmt::format("ntm_estimation_error: shapes [{}] and [{}] differ",
                                            fmt::join(estimate.sizes(), "x"), fmt::join(truth.sizes(), "x")));
  auto d = (estimate.to(torch::kFloat64) - truth.to(torch::kFloat64)).abs().sum();
  return d.item<double>() / static_cast<double>(estimate.size(0));
}

}  // namespace jcas
