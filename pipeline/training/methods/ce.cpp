// Self-training baseline: cross-entropy on the pseudo labels as they are (the paper's ablation row
// "Baseline (CE)").
#include "pipeline/method/cross_entropy_loss.h"
#include "pipeline/training/adaptation_method.h"

namespace jcas {

namespace {

class CrossEntropyMethod : public AdaptationMethod {
 public:
  std::string name() const override { return "ce"; }
  std::string title() const override { return "Baseline (CE)"; }
  bool paper_ablation() const override { return true; }
  SegmentationLoss loss(int, const JcasLossOptions& o) const override {
    return std::make_shared<CrossEntropyLossImpl>(o.lambda);
  }
};

}  // namespace

std::shared_ptr<const AdaptationMethod> ce_method() { return std::make_shared<CrossEntropyMethod>(); }

}  // namespace jcas
