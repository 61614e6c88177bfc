#include "pipeline/method/adaptation_methods.h"

#include <fmt/format.h>

#include "adapters/foundation/error.h"

namespace jcas {

namespace {

AdaptationMethod jcas_switches(std::string name, std::string title, bool affinity, bool dar, bool calc) {
  AdaptationMethod m{std::move(name), std::move(title), LossKind::jcas};
  m.affinity = affinity;
  m.dar = dar;
  m.calc = calc;
  return m;
}

// A baseline of the SFDA literature: not a row of the paper's ablation.
AdaptationMethod sfda_baseline(AdaptationMethod m) {
  m.paper_ablation = false;
  return m;
}

std::vector<AdaptationMethod> registered_methods() {
  // "+DAR" and "+CALC" each add one component to "+affinity", and JCAS adds both, so the ablation
  // rows show what each component brings alone and together.
  std::vector<AdaptationMethod> methods = {
      {"ce", "Baseline (CE)", LossKind::ce},
      jcas_switches("affinity", "+ Affinity", true, false, false),
      jcas_switches("dar", "+ Affinity + DAR", true, true, false),
      jcas_switches("calc", "+ Affinity + CALC", true, false, true),
      jcas_switches("jcas", "JCAS (Affinity + DAR + CALC)", true, true, true),
      {"volmin", "VolMin", LossKind::volmin},
      {"sparsereg", "SparseReg", LossKind::sparsereg},
  };
  AdaptationMethod adabn{"adabn", "AdaBN (target BatchNorm statistics)", LossKind::ce};
  adabn.trains = false;
  adabn.adabn = true;
  methods.push_back(sfda_baseline(adabn));
  AdaptationMethod tent{"tent", "Tent (entropy, BatchNorm affine)", LossKind::entropy};
  tent.adabn = true;
  tent.batchnorm_affine_only = true;
  methods.push_back(sfda_baseline(tent));
  methods.push_back(sfda_baseline({"ce_prior", "CE + class prior (logit adjustment)", LossKind::ce_prior}));
  AdaptationMethod cbst{"cbst", "Class-balanced self-training", LossKind::ce};
  cbst.filter = LabelFilter::class_balanced;
  methods.push_back(sfda_baseline(cbst));
  AdaptationMethod dpl{"dpl", "DPL (denoised pseudo labels)", LossKind::ce};
  dpl.filter = LabelFilter::dpl;
  methods.push_back(sfda_baseline(dpl));
  // JCAS on the filtered labels: the comparison with cbst and dpl is then between losses.
  AdaptationMethod jcas_cbst = jcas_switches("jcas_cbst", "JCAS on class-balanced labels", true, true, true);
  jcas_cbst.filter = LabelFilter::class_balanced;
  methods.push_back(sfda_baseline(jcas_cbst));
  AdaptationMethod jcas_dpl = jcas_switches("jcas_dpl", "JCAS on DPL-denoised labels", true, true, true);
  jcas_dpl.filter = LabelFilter::dpl;
  methods.push_back(sfda_baseline(jcas_dpl));
  return methods;
}

}  // namespace

const std::vector<AdaptationMethod>& adaptation_methods() {
  static const std::vector<AdaptationMethod> methods = registered_methods();
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
