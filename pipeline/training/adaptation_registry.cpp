#include "pipeline/training/adaptation_registry.h"

#include <fmt/format.h>

#include "adapters/foundation/error.h"

namespace jcas {

// One line each: the methods of methods/*.cpp.
std::shared_ptr<const AdaptationMethod> ce_method();
std::vector<std::shared_ptr<const AdaptationMethod>> jcas_ablation_methods();
std::vector<std::shared_ptr<const AdaptationMethod>> volmin_methods();
std::shared_ptr<const AdaptationMethod> sparsereg_method();
std::shared_ptr<const AdaptationMethod> adabn_method();
std::vector<std::shared_ptr<const AdaptationMethod>> tent_methods();
std::shared_ptr<const AdaptationMethod> ce_prior_method();
std::shared_ptr<const AdaptationMethod> cbst_method();
std::shared_ptr<const AdaptationMethod> dpl_method();
std::vector<std::shared_ptr<const AdaptationMethod>> jcas_on_filtered_labels_methods();

namespace {

std::vector<std::shared_ptr<const AdaptationMethod>>& registry() {
  static std::vector<std::shared_ptr<const AdaptationMethod>> methods = [] {
    std::vector<std::shared_ptr<const AdaptationMethod>> m = {ce_method()};
    for (auto& j : jcas_ablation_methods()) m.push_back(j);
    for (auto& v : volmin_methods()) m.push_back(v);
    for (auto& b : {sparsereg_method(), adabn_method()}) m.push_back(b);
    for (auto& t : tent_methods()) m.push_back(t);
    for (auto& b : {ce_prior_method(), cbst_method(), dpl_method()}) m.push_back(b);
    for (auto& j : jcas_on_filtered_labels_methods()) m.push_back(j);
    return m;
  }();
  return methods;
}

}  // namespace

const std::vector<std::shared_ptr<const AdaptationMethod>>& adaptation_methods() { return registry(); }

std::string adaptation_method_names() {
  std::string out;
  for (const auto& m : adaptation_methods()) out += (out.empty() ? "" : " | ") + m->name();
  return out;
}

const AdaptationMethod& adaptation_method(const std::string& name) {
  for (const auto& m : adaptation_methods())
    if (m->name() == name) return *m;
  throw UserError(fmt::format("unknown adaptation method '{}': expected one of {}", name, adaptation_method_names()));
}

void register_adaptation_method(std::shared_ptr<const AdaptationMethod> method) {
  for (const auto& m : registry())
    if (m->name() == method->name())
      throw UserError(fmt::format("adaptation method '{}' is registered already", method->name()));
  registry().push_back(std::move(method));
}

}  // namespace jcas
