#pragma once
// The registry of adaptation methods: the paper's ablation rows first, in the order its table lists
// them, then the SFDA baselines. --retrain.method, the ablation's rows, the benchmark, the CLI help
// and validation all read it.
#include <memory>
#include <string>
#include <vector>

#include "pipeline/training/adaptation_method.h"

namespace jcas {

const std::vector<std::shared_ptr<const AdaptationMethod>>& adaptation_methods();
// UserError listing the names when `name` is not registered.
const AdaptationMethod& adaptation_method(const std::string& name);
// "ce | affinity | ..." for help texts.
std::string adaptation_method_names();
// Adds a method after the built-in ones (an extension linked into a program, a test's toy method);
// UserError if its name is taken. Call before options are parsed.
void register_adaptation_method(std::shared_ptr<const AdaptationMethod> method);

}  // namespace jcas
