#include "pipeline/training/adaptation_method.h"

namespace jcas {

std::vector<torch::Tensor> AdaptationMethod::trainable_parameters(const SegmentationModel& model) const {
  auto all = model.backbone_parameters();
  auto heads = model.head_parameters();
  all.insert(all.end(), heads.begin(), heads.end());
  return all;
}

// Asked of the loss itself (two classes, default options: building one draws no random number), so
// a method cannot claim a correction its loss lacks.
bool AdaptationMethod::corrects() const {
  auto l = loss(2, JcasLossOptions());
  return l && l->class_transition();
}

bool AdaptationMethod::trains() const { return loss(2, JcasLossOptions()) != nullptr; }

}  // namespace jcas
