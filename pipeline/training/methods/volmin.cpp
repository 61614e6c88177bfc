// VolMin (Li et al., ICML 2021): the class NTM learned with the network, its volume log|det T_C|
// minimised; plain cross-entropy for the warm-up epochs.
#include "pipeline/method/cross_entropy_loss.h"
#include "pipeline/training/adaptation_method.h"

namespace jcas {

namespace {

class VolMinMethod : public AdaptationMethod {
 public:
  std::string name() const override { return "volmin"; }
  std::string title() const override { return "VolMin"; }
  bool paper_ablation() const override { return true; }
  // JCAS's loss with the affinity terms and DAR off and CALC on is exactly VolMin's: the
  // corrected NLL of both heads plus β·log|det T_C|.
  SegmentationLoss loss(int k, const JcasLossOptions& base) const override {
    JcasLossOptions o = base;
    o.affinity = o.dar = false;
    o.calc = true;
    return std::make_shared<JcasLossImpl>(k, o);
  }
  SegmentationLoss warmup_loss(int, const JcasLossOptions& o) const override {
    return std::make_shared<CrossEntropyLossImpl>(o.lambda);
  }
};

}  // namespace

std::shared_ptr<const AdaptationMethod> volmin_method() { return std::make_shared<VolMinMethod>(); }

}  // namespace jcas
