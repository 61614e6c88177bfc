#pragma once
// Estimators of the class noise transition matrix T_C from model probabilities and noisy labels
// (DESIGN §4). Convention: rows = clean class, columns = noisy class, rows sum to 1.
//
// - "confident" (confident joint, Northcutt et al. 2021): thresholds t_j = mean probability of
//   class j over the pixels labelled j; a pixel counts when some class reaches its threshold, and
//   is assigned the most probable such class — that assignment is the confident joint's "true
//   label" axis, i.e. our row (clean) axis; columns are its noisy label. Each column is then
//   scaled so that its total equals the number of pixels carrying that noisy label (calibration),
//   and rows are normalised. A class nobody is labelled with has an infinite threshold.
// - "anchor" (anchor points, Patrini et al. 2017): `probs` are read as the model's estimate of the
//   NOISY posterior p(noisy | x) (a model trained on, or producing, the noisy labels). For an
//   anchor pixel of clean class i, p(noisy | x) = T_C[i, :], so row i is the mean of `probs` over
//   the pixels whose probability of class i is at or above its `anchor_quantile` quantile. (Patrini
//   takes the single pixel at the quantile; the mean over the top is less noisy per pixel.)
//   Labels are used only to skip pixels labelled 255.
// - "class_anchor": as "anchor", but the quantile and the mean are taken per class among the pixels
//   labelled with it (the global quantile cannot isolate a class covering < 1 − quantile of the pixels).
// - "posterior": `probs` are read as the CLEAN posterior p(clean | x) — what they are when the labels
//   are the model's own predictions (pseudo labels) — and row i is the model's expected confusion of
//   its labels: Σ_{x labelled j} p_i(x) / Σ_x p_i(x). Exact when the model is calibrated; it is the
//   per-class form of the average-confidence estimate of accuracy on an unlabelled shifted set
//   (Hendrycks & Gimpel, ICLR 2017; Guillory et al., ICCV 2021; Garg et al., ICLR 2022). Unlike the
//   anchors, it counts the uncertain pixels, where a segmentation model's errors are.
// - "oracle": the confusion of noisy against clean labels, row-normalised (needs `clean`).
// - "identity": no prior, the matrix of the NTM initialisation W = −2 (DESIGN §3.1):
//   diagonal 1/(1+(K−1)σ(−2)), off-diagonal σ(−2)/(1+(K−1)σ(−2)).
// A row without evidence (no pixel counted for it) is an identity row.
#include <torch/torch.h>

#include <functional>
#include <string>
#include <vector>

namespace jcas {

struct NtmEstimatorInput {
  torch::Tensor probs;         // P x K float64 (undefined for estimators that read no data)
  torch::Tensor noisy, clean;  // P int64 labels, 255 = ignore (clean only for those that need it)
  int num_classes = 4;
  double anchor_quantile = 0.97;
};

// The registry of estimators: a new one is one entry in ntm_estimators.cpp.
struct NtmEstimator {
  std::string name, description;
  bool needs_clean_labels = false;  // ground truth: for evaluation, never for adaptation
  std::function<torch::Tensor(const NtmEstimatorInput&)> estimate;  // K x K, rows sum to 1
};
const std::vector<NtmEstimator>& ntm_estimators();
// UserError listing the names for an unknown one.
const NtmEstimator& ntm_estimator(const std::string& name);
// The estimator names, in the order reports list them.
std::vector<std::string> ntm_estimator_names();

// probs: P x K float (rows are probability vectors); noisy: P integer labels (255 = ignore);
// clean: P integer labels, only for "oracle". Returns a K x K float32 row-stochastic matrix.
// Unknown method or "oracle" without clean labels: UserError. Shape mismatches: std::invalid_argument.
torch::Tensor estimate_class_ntm(const std::string& method, const torch::Tensor& probs, const torch::Tensor& noisy,
                                 const torch::Tensor& clean = {}, int num_classes = 4, double anchor_quantile = 0.97);

// ‖estimate − truth‖₁ / K (entry-wise L1 norm; K = number of rows): the mean L1 error of a row.
double ntm_estimation_error(const torch::Tensor& estimate, const torch::Tensor& truth);

}  // namespace jcas
