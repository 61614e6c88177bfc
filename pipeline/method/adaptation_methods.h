#pragma once
// The registry of adaptation methods: the losses a model can be retrained with on noisy (pseudo)
// labels — JCAS, its ablation rows and the reference baselines. The retrain stage's
// --retrain.method, the ablation's rows, the CLI help and validation all read this table; a new
// method is one entry here (plus its loss, if it needs a new one).
#include <optional>
#include <string>
#include <vector>

#include "pipeline/method/jcas_loss.h"

namespace jcas {

// Which pseudo-label pixels a method trains on (the rest become ignore, 255):
//   class_balanced: CBST (Zou et al., ECCV 2018), per class the most confident share;
//   dpl: DPL (Chen et al., MICCAI 2021), low uncertainty across views and agreeing with the
//        nearest class prototype of the embedding.
enum class LabelFilter { none, class_balanced, dpl };

struct AdaptationMethod {
  std::string name, title;
  LossKind loss = LossKind::jcas;
  bool affinity = false, dar = false, calc = false;  // JCAS's switches (jcas only)
  bool trains = true;                  // false: AdaBN alone, no gradient step
  bool adabn = false;                  // BatchNorm statistics recomputed on the target first
  bool batchnorm_affine_only = false;  // only BatchNorm's weights and biases train (Tent)
  LabelFilter filter = LabelFilter::none;
  bool paper_ablation = true;          // a row of the paper's ablation (`jcas ablation`)

  // Learns noise transition matrices (CALC or VolMin): they start from the round's estimate, and
  // the first epochs warm up without the correction.
  bool corrects() const { return (loss == LossKind::jcas && calc) || loss == LossKind::volmin; }
  // `base` (weights, grid, implementation) with this method's loss and switches.
  JcasLossOptions loss_options(JcasLossOptions base) const;
  // The reference's warm-up for correcting methods: the same network terms without the correction
  // (VolMin: plain CE). None for the others.
  std::optional<JcasLossOptions> warmup_loss(const JcasLossOptions& main) const;
  // How a model trained with this method is read out.
  InferenceMode inference(const JcasLossOptions& base) const { return InferenceMode::of(loss_options(base)); }
};

// The paper's rows first, in the order the ablation table lists them, then the SFDA baselines.
const std::vector<AdaptationMethod>& adaptation_methods();
// UserError listing the names when `name` is not registered.
const AdaptationMethod& adaptation_method(const std::string& name);
// "ce | affinity | ..." for help texts.
std::string adaptation_method_names();

}  // namespace jcas
