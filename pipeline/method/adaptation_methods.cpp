#include "pipeline/method/adaptation_methods.h"

#include <fmt/format.h>

#include "adapters/foundation/error.h"

namespace jcas {

const std::vector<AdaptationMethod>& adaptation_methods() {
  // "+DAR" and "+CALC" each add one component to "+affinity", and JCAS adds both, so the ablation
  // rows show what each component brings alone and together.
  static const std::vector<AdaptationMethod> methods = {
      {"ce", "Baseline (CE)", LossKind::ce},
      {"affinity", "+ Affinity", LossKind::jcas, true, false, false},
      {"dar", "+ Affinity + DAR", LossKind::jcas, true, true, false},
      {"calc", "+ Affinity + CALC", LossKind::jcas, true, false, true},
      {"jcas", "JCAS (Affinity + DAR + CALC)", LossKind::jcas, true, true, true},
      {"volmin", "VolMin", LossKind::volmin},
      {"sparsereg", "SparseReg", LossKind::sparsereg},
  };
  return methods;
}

std::string adaptation_method_names() {
  std::string out;
  for (const auto& m : adaptation_methods()) out += (out.empty() ? "" : " | ") + m.name;
  return out;
}

const AdaptationMethod& adaptation_method(const std::string& name) {
  for (const auto& m : adaptation_methods())
    if (m.name == name) return m;
  throw UserError(fmt::format("unknown adaptation method '{}': expected one of {}", name, adaptation_method_names()));
}

JcasLossOptions AdaptationMethod::loss_options(JcasLossOptions base) const {
  base.method = loss;
  base.affinity = affinity;
  base.dar = dar;
  base.calc = calc;
  return base;
}

std::optional<JcasLossOptions> AdaptationMethod::warmup_loss(const JcasLossOptions& main) const {
  if (!corrects()) return std::nullopt;
  JcasLossOptions w = main;
  w.calc = false;
  if (w.method == LossKind::volmin) w.method = LossKind::ce;
  return w;
}

}  // namespace jcas
