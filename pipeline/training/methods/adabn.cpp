// AdaBN (Li et al., 2016): the source model with its BatchNorm statistics recomputed on the target;
// no gradient step.
#include "pipeline/training/adaptation_method.h"

namespace jcas {

namespace {

class AdaBNMethod : public AdaptationMethod {
 public:
  std::string name() const override { return "adabn"; }
  std::string title() const override { return "AdaBN (target BatchNorm statistics)"; }
  SegmentationLoss loss(int, const JcasLossOptions&, const MethodSettings&) const override { return nullptr; }
  bool starts_with_adabn() const override { return true; }
};

}  // namespace

std::shared_ptr<const AdaptationMethod> adabn_method() { return std::make_shared<AdaBNMethod>(); }

}  // namespace jcas
