#pragma once
// The total JCAS loss (DESIGN §3.6) and its ablation switches (§3.7); with the affinity terms and
// DAR off and CALC on it is VolMin's loss.
#include <torch/torch.h>

#include <string>

#include "adapters/foundation/option_binder.h"
#include "pipeline/method/affinity_loss.h"
#include "pipeline/method/dar.h"
#include "pipeline/method/ntm.h"
#include "pipeline/method/segmentation_loss.h"

namespace jcas {

// dense: A formed in full (on the CPU tile by tile and kept for the backward: dense_affinity_branch.h);
// tiled: block by block, never kept (CPU only), low-rank DAR.
enum class AffinityImpl { dense, tiled };
template <>
struct EnumNames<AffinityImpl> {
  static const std::vector<std::pair<AffinityImpl, const char*>>& table();
};
template <>
struct EnumNames<DarComplement> {
  static const std::vector<std::pair<DarComplement, const char*>>& table();
};

struct JcasLossOptions {
  // The ablation switches, set by the adaptation method (pipeline/training/methods/jcas.cpp), not
  // bound to options. CALC = T_C/T_A correction + volume + consistency.
  //   affinity off: no affinity terms, no DAR, no T_A (volume = log|det T_C| only, no consistency);
  //                 the class term is the baseline's: P resized straight to the label size.
  //   dar off:      the class term is the plain term only, P resized straight to the label size
  //                 (so everything off is cross-entropy, and affinity off + calc on is VolMin).
  //   dar on:       the reference's class branch: P resized to the affinity grid, DAR term + plain
  //                 term, both from the grid logits.
  bool affinity = true, dar = true, calc = true;
  double lambda = 0.1, volume_weight = 0.5, consistency_weight = 0.01;
  // Scales aff1 + λ·aff2 (the reference: 1). Chosen on the target val split (README, "How the
  // defaults were chosen"), since at weight 1 the affinity BCE outweighs the class terms.
  double affinity_weight = 0.1;
  // Affinity grid: the reference's ratio (H/4, W/5: 64×64 at 256×320) at the quickstart's 128×160,
  // chosen on the target val split against the feature resolution 16×20 (README).
  int affinity_h = 32, affinity_w = 32;
  AffinityImpl affinity_impl = AffinityImpl::dense;
  AffinityIgnore affinity_ignore = AffinityIgnore::exclude;
  DarComplement dar_complement = DarComplement::normalised;
  // Options of the baselines' own losses (pipeline/training/methods/).
  double sparse_tau = 0.5, sparse_p = 0.01;  // sparsereg: logit normalisation temperature, p-norm power
  double sparse_weight = 1.0;                // sparsereg: weight of the p-norm regulariser (reference: 1)
  double prior_tau = 1.0;                    // ce_prior: logits + tau * log(class prior) during training

  // The weights, grid and implementation (keys relative to the binder's section).
  void bind(OptionBinder& b);
  // Throws UserError naming the first bad field.
  void check() const;
};

class JcasLossImpl : public SegmentationLossImpl {
 public:
  JcasLossImpl(int num_classes, JcasLossOptions options);

  // class_dist gives T_{C→A} in the consistency term (may be undefined when that term is off).
  //   total = seg2 + λ·seg1 + w·(aff1 + λ·aff2) + β·volume + γ·consistency  (w = affinity_weight)
  //   volume = log|det T_C| + log|det T_A|, consistency = mean((T_{C→A} − T_A)²), both in this toolkit's
  //   order (index 0 = dissimilar), as the fixture computes it.
  LossTerms forward(const torch::Tensor& feat1, const torch::Tensor& feat2, const torch::Tensor& pred1,
                    const torch::Tensor& pred2, const torch::Tensor& labels, const torch::Tensor& class_dist) override;
  // The NTMs it learns: T_C with CALC on, T_A with CALC and the affinity terms on.
  LearnableNTM class_transition() const override { return options_.calc ? class_ntm : nullptr; }
  LearnableNTM affinity_transition() const override {
    return options_.calc && options_.affinity ? affinity_ntm : nullptr;
  }

  const JcasLossOptions& options() const { return options_; }
  int num_classes() const { return num_classes_; }

  LearnableNTM class_ntm{nullptr};     // K×K
  LearnableNTM affinity_ntm{nullptr};  // 2×2

 private:
  int num_classes_;
  JcasLossOptions options_;
};
TORCH_MODULE(JcasLoss);

}  // namespace jcas
