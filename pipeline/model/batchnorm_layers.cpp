#include "pipeline/model/batchnorm_layers.h"

#include <map>

namespace jcas {

std::vector<BatchNormLayer> batchnorm_layers(const SegmentationModel& model) {
  std::map<std::string, torch::Tensor> by_name;
  std::vector<std::string> order;
  for (const auto& [name, t] : model.state()) {
    by_name[name] = t;
    order.push_back(name);
  }
  auto get = [&](const std::string& name) {
    auto it = by_name.find(name);
    return it == by_name.end() ? torch::Tensor() : it->second;
  };
  const std::string suffix = ".running_mean";
  std::vector<BatchNormLayer> layers;
  for (const auto& name : order) {
    if (name.size() <= suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    BatchNormLayer l;
    l.name = name.substr(0, name.size() - suffix.size());
    l.running_mean = by_name[name];
    l.running_var = get(l.name + ".running_var");
    if (!l.running_var.defined()) continue;
    l.num_batches_tracked = get(l.name + ".num_batches_tracked");
    l.weight = get(l.name + ".weight");
    l.bias = get(l.name + ".bias");
    layers.push_back(l);
  }
  return layers;
}

std::vector<torch::Tensor> batchnorm_affine_parameters(const SegmentationModel& model) {
  std::vector<torch::Tensor> out;
  for (const auto& l : batchnorm_layers(model))
    for (const auto& t : {l.weight, l.bias})
      if (t.defined()) out.push_back(t);
  return out;
}

BatchStatisticsScope::BatchStatisticsScope(SegmentationModel& model) : model_(model) {
  for (const auto& l : batchnorm_layers(model))
    for (const auto& t : {l.running_mean, l.running_var, l.num_batches_tracked})
      if (t.defined()) saved_.emplace_back(t, t.detach().clone());
  model_.set_training(false);
  model_.set_batchnorm_training(true);
}

BatchStatisticsScope::~BatchStatisticsScope() {
  torch::NoGradGuard no_grad;
  for (auto& [live, copy] : saved_) live.copy_(copy);
  model_.set_batchnorm_training(false);
}

}  // namespace jcas
