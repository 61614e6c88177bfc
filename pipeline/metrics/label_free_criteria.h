#pragma once
// Label-free criteria of a model on unlabelled target images: figures an SFDA user can compute
// without a single target label, to choose a round, a method or a setting (`jcas select`).
// Each is oriented so that higher is better (entropy enters as certainty = 1 - normalised entropy),
// with the paper it comes from:
//
// - certainty: 1 - mean pixel entropy / log K. Entropy minimisation as a model-selection signal
//   (Morerio et al., ICLR 2018, "Minimal-entropy correlation alignment"; Tent, Wang et al., ICLR 2021).
// - confidence: mean max-probability (Hendrycks & Gimpel, ICLR 2017; the average-confidence
//   accuracy estimate of Guillory et al., ICCV 2021).
// - info_max: information maximisation, H(mean prediction) - mean H(prediction), both / log K
//   (Gomes et al., NeurIPS 2010; SHOT, Liang et al., ICML 2020): confident, yet not one class.
// - flip_agreement: how far the labels of an image agree with those of its mirror image mirrored
//   back, as the agreement below: consistency under a view the labels should not depend on, the
//   principle of test-time augmentation (no single paper's protocol).
// - dar_agreement: the agreement of the softmax read-out's labels with the DAR read-out's, for a
//   model read out with DAR (NaN otherwise): DAR refines by affinity, so agreement says the two
//   read-outs tell one story.
//   Agreement of two label maps: the mean over foreground classes of |A_c ∩ B_c| / |A_c ∪ B_c|
//   from totals over the split (symmetric; a class neither map has is left out; 1 when no map has
//   any foreground).
// - snd: soft neighbourhood density (Saito et al., ICCV 2021): the mean entropy of each pixel's
//   softmax-weighted similarity (temperature 0.05, cosine of the read-out probabilities as the
//   paper's default "preds" layer) to a fixed sample of pixels, itself excluded.
// - expected_mjac: the Jaccard the model expects of its own labels if its probabilities were
//   calibrated: per foreground class c, E[TP] = sum over pixels labelled c of p_c and E[|true c|] =
//   sum of p_c, so J = E[TP] / (|labelled c| + E[|true c|] - E[TP]), from totals over the split; mean
//   over foreground classes. The per-class form of the average-confidence estimate above, and the
//   same reading of the probabilities as the `posterior` T_C estimator.
// Criteria that need source data (DEV, You et al., ICML 2019) are out: the source data is gone.
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>


namespace jcas {

struct LabelFreeCriteriaOptions {
  int snd_pixels = 2048;         // pixels sampled over the split for SND (its N x N similarity)
  double snd_temperature = 0.05;  // the SND paper's
};

// One criterion's name, what it measures, and whether it needs something not every model has.
struct CriterionInfo {
  const char* name;
  const char* description;
};
const std::vector<CriterionInfo>& label_free_criteria();
// The criterion that chooses where none is named (`jcas select`, --select, --rounds auto,
// --retrain.select CRITERION): the lowest mean val regret over the benchmark runs and the imported
// model of README's walkthrough (docs/RESULTS.md, section 3; expected_mjac before the walkthrough
// was added).
inline constexpr char kDefaultCriterion[] = "flip_agreement";
// Checks a criterion's name (UserError listing the names otherwise).
void check_criterion(const std::string& name, const std::string& option);

// Accumulates the criteria over the images of a split, one image at a time, in a fixed order.
class LabelFreeCriteria {
 public:
  LabelFreeCriteria(int num_classes, int64_t images, LabelFreeCriteriaOptions options = {});
  // One image: `probabilities` K x H x W (the model's read-out); `mirrored` the read-out of the
  // horizontally mirrored image, mirrored back (undefined: no flip agreement); `softmax` the softmax
  // read-out where the model's read-out is DAR (undefined otherwise). `index` seeds the image's
  // SND sample, so the sample does not depend on batching or ranks.
  void add(int64_t index, const torch::Tensor& probabilities, const torch::Tensor& mirrored = {},
           const torch::Tensor& softmax = {});
  // Criterion name -> value, every name of label_free_criteria(); NaN where it could not be computed.
  std::vector<std::pair<std::string, double>> values() const;

 private:
  int k_;
  int64_t images_;
  LabelFreeCriteriaOptions options_;
  int64_t pixels_ = 0;
  double entropy_sum_ = 0, confidence_sum_ = 0;
  // K each, float64: pixels labelled c, the mass of p_c (expected pixels of c), p_c on pixels labelled c.
  torch::Tensor labelled_, true_mass_, tp_mass_;
  torch::Tensor flip_, dar_;  // K x K int64 confusions of the two label maps, undefined until added
  std::vector<torch::Tensor> snd_sample_;  // per image: m x K sampled probabilities
};

// SND of the rows of `features` (N x D): L2-normalised, cosine similarity / temperature with the
// diagonal excluded, softmax per row, mean row entropy.
double soft_neighbourhood_density(const torch::Tensor& features, double temperature);

}  // namespace jcas
