// DPL (Chen et al., MICCAI 2021): cross-entropy on the pseudo labels that are certain across views
// and agree with the nearest class prototype of the embedding.
#include "pipeline/method/cross_entropy_loss.h"
#include "pipeline/training/adaptation_method.h"

namespace jcas {

namespace {

class DenoisedLabelsMethod : public AdaptationMethod {
 public:
  std::string name() const override { return "dpl"; }
  std::string title() const override { return "DPL (denoised pseudo labels)"; }
  SegmentationLoss loss(int, const JcasLossOptions& o) const override {
    return std::make_shared<CrossEntropyLossImpl>(o.lambda);
  }
  LabelFilter label_filter() const override { return LabelFilter::dpl; }
};

}  // namespace

std::shared_ptr<const AdaptationMethod> dpl_method() { return std::make_shared<DenoisedLabelsMethod>(); }

}  // namespace jcas
