// Class-balanced self-training (Zou et al., ECCV 2018): cross-entropy on the most confident share
// of each class's pseudo-labelled pixels.
#include "pipeline/method/cross_entropy_loss.h"
#include "pipeline/training/adaptation_method.h"

namespace jcas {

namespace {

class ClassBalancedMethod : public AdaptationMethod {
 public:
  std::string name() const override { return "cbst"; }
  std::string title() const override { return "Class-balanced self-training"; }
  SegmentationLoss loss(int, const JcasLossOptions& o) const override {
    return std::make_shared<CrossEntropyLossImpl>(o.lambda);
  }
  LabelFilter label_filter() const override { return LabelFilter::class_balanced; }
};

}  // namespace

std::shared_ptr<const AdaptationMethod> cbst_method() { return std::make_shared<ClassBalancedMethod>(); }

}  // namespace jcas
