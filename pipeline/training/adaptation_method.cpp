#include "pipeline/training/adaptation_method.h"

#include "adapters/foundation/error.h"
#include "adapters/foundation/option_binder.h"

namespace jcas {

void MethodSettings::bind(OptionBinder& b) {
  b.bind("volmin_lambda", &volmin_lambda, "volmin: weight of log|det T_C| (VolMin's λ)");
  b.bind("tent_lr", &tent_lr, "tent: Adam learning rate of the BatchNorm affine parameters");
}

void MethodSettings::check() const {
  if (!(volmin_lambda >= 0)) throw UserError("--retrain.volmin_lambda must be >= 0");
  if (!(tent_lr > 0)) throw UserError("--retrain.tent_lr must be > 0");
}

std::vector<torch::Tensor> AdaptationMethod::trainable_parameters(const SegmentationModel& model) const {
  auto all = model.backbone_parameters();
  auto heads = model.head_parameters();
  all.insert(all.end(), heads.begin(), heads.end());
  return all;
}

// Asked of the loss itself (two classes, default options: building one draws no random number), so
// a method cannot claim a correction its loss lacks.
bool AdaptationMethod::corrects() const {
  auto l = loss(2, JcasLossOptions(), MethodSettings());
  return l && l->class_transition();
}

bool AdaptationMethod::trains() const { return loss(2, JcasLossOptions(), MethodSettings()) != nullptr; }

}  // namespace jcas
