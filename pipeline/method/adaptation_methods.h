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

struct AdaptationMethod {
  std::string name, title;
  LossKind loss = LossKind::jcas;
  bool affinity = false, dar = false, calc = false;  // JCAS's switches (jcas only)

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

// In the order the ablation table lists them.
const std::vector<AdaptationMethod>& adaptation_methods();
// UserError listing the names when `name` is not registered.
const AdaptationMethod& adaptation_method(const std::string& name);
// "ce | affinity | ..." for help texts.
std::string adaptation_method_names();

}  // namespace jcas
