#pragma once
// The total JCAS loss (DESIGN §3.6), its ablation switches and the reference baselines (§3.7).
#include <torch/torch.h>

#include <string>

#include "adapters/foundation/option_binder.h"
#include "pipeline/method/affinity_loss.h"
#include "pipeline/method/dar.h"
#include "pipeline/method/ntm.h"

namespace jcas {

// Which loss computes the total: JCAS (with its switches below) or a reference baseline.
// entropy: Tent's label-free objective (mean Shannon entropy of the prediction); ce_prior: CE on
// logit-adjusted logits (the training labels' class prior added, Menon et al., ICLR 2021).
enum class LossKind { jcas, ce, volmin, sparsereg, entropy, ce_prior };
// dense: autograd over B×N×N affinities; tiled: block by block, never N×N (CPU only), low-rank DAR.
enum class AffinityImpl { dense, tiled };
template <>
struct EnumNames<LossKind> {
  static const std::vector<std::pair<LossKind, const char*>>& table();
};
template <>
struct EnumNames<AffinityImpl> {
  static const std::vector<std::pair<AffinityImpl, const char*>>& table();
};
template <>
struct EnumNames<DarComplement> {
  static const std::vector<std::pair<DarComplement, const char*>>& table();
};

struct JcasLossOptions {
  // Set by the adaptation method (pipeline/method/adaptation_methods.h), not bound to options.
  LossKind method = LossKind::jcas;
  // Ablation switches of method jcas. CALC = T_C/T_A correction + volume + consistency.
  //   affinity off: no affinity terms, no DAR, no T_A (volume = log|det T_C| only, no consistency);
  //                 the class term is the baseline's: P resized straight to the label size.
  //   dar off:      the class term is the plain term only, P resized straight to the label size
  //                 (so jcas with everything off == ce, and affinity off + calc on == volmin).
  //   dar on:       the reference's class branch: P resized to the affinity grid, DAR term + plain
  //                 term, both from the grid logits.
  bool affinity = true, dar = true, calc = true;
  double lambda = 0.1, volume_weight = 0.5, consistency_weight = 0.01;
  // Scales aff1 + λ·aff2. The reference: 1; 0.1 won on the target val split at both synthetic shifts
  // (README, "How the defaults were chosen"): at weight 1 the affinity BCE outweighs the class terms.
  double affinity_weight = 0.1;
  // Affinity grid: the reference's ratio (H/4, W/5: 64×64 at 256×320) at the quickstart's 128×160;
  // it won on the target val split against the feature resolution 16×20 (README).
  int affinity_h = 32, affinity_w = 32;
  AffinityImpl affinity_impl = AffinityImpl::dense;
  AffinityIgnore affinity_ignore = AffinityIgnore::exclude;
  DarComplement dar_complement = DarComplement::normalised;
  double sparse_tau = 0.5, sparse_p = 0.01;  // sparsereg: logit normalisation temperature, p-norm power
  double sparse_weight = 1.0;                // sparsereg: weight of the p-norm regulariser (reference: 1)
  double prior_tau = 1.0;                    // ce_prior: logits + tau * log(class prior) during training

  // The weights, grid and implementation (keys relative to the binder's section).
  void bind(OptionBinder& b);
  // Throws UserError naming the first bad field.
  void check() const;
};

// How a trained model is read out: the reference evaluates models trained with DAR by the average
// of softmax(P_dar) and softmax(P); every other model by softmax(P).
struct InferenceMode {
  bool dar = false;
  // The affinity grid DAR runs on, its implementation and complement: the loss options' defaults
  // unless of() or a stored model sets them.
  int grid_h = JcasLossOptions().affinity_h, grid_w = JcasLossOptions().affinity_w;
  AffinityImpl impl = JcasLossOptions().affinity_impl;
  DarComplement complement = JcasLossOptions().dar_complement;
  static InferenceMode of(const JcasLossOptions& trained_with);
  // "softmax", "dar" (the reference's DAR) or "dar_affinity" (the 1 − A complement): how stored
  // models, exports and predictions name their readout.
  std::string readout() const;
  // Sets dar and complement from readout(); false for a name it does not know.
  bool set_readout(const std::string& name);
};

// Every term, unweighted (undefined terms are 0-dim zeros). total is what to back-propagate.
struct LossTerms {
  torch::Tensor total, seg1, seg2, aff1, aff2, volume, consistency;
};

class JcasLossImpl : public torch::nn::Module {
 public:
  JcasLossImpl(int num_classes, JcasLossOptions options);

  // feat1/feat2: B×d×h×w embeddings, pred1/pred2: B×K×h×w logits (1 = auxiliary, 2 = main head);
  // labels B×H×W (uint8 or integer, 255 = ignore); class_dist: K class proportions of the training
  // labels, used for T_{C→A} in the consistency term (may be undefined when that term is off).
  //   total = seg2 + λ·seg1 + w·(aff1 + λ·aff2) + β·volume + γ·consistency  (w = affinity_weight)
  //   volume = log|det T_C| + log|det T_A|, consistency = mean((T_{C→A} − T_A)²), both in this toolkit's
  //   order (index 0 = dissimilar), as the fixture computes it.
  LossTerms forward(const torch::Tensor& feat1, const torch::Tensor& feat2, const torch::Tensor& pred1,
                    const torch::Tensor& pred2, const torch::Tensor& labels, const torch::Tensor& class_dist);

  const JcasLossOptions& options() const { return options_; }
  int num_classes() const { return num_classes_; }

  LearnableNTM class_ntm{nullptr};     // K×K
  LearnableNTM affinity_ntm{nullptr};  // 2×2

 private:
  int num_classes_;
  JcasLossOptions options_;
};
TORCH_MODULE(JcasLoss);

// Inference as the reference evaluates (mode.dar): the average of
// softmax(P_dar) and softmax(P), both from the main head's logits resized to the affinity grid with
// the main head's affinity, each resized (bilinear, align_corners) to out_h×out_w. Otherwise
// softmax of pred2 resized to the output size. Returns B×K×out_h×out_w probabilities.
torch::Tensor predict_probabilities(const torch::Tensor& feat2, const torch::Tensor& pred2, int out_h, int out_w,
                                    const InferenceMode& mode);

}  // namespace jcas
