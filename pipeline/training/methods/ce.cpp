// Self-training with cross-entropy: on the pseudo labels as they are (the paper's ablation row
// "Baseline (CE)"), or on the pixels a baseline's filter keeps: class-balanced self-training (Zou et
// al., ECCV 2018: the most confident share of each class) and DPL (Chen et al., MICCAI 2021: certain
// across views and agreeing with the nearest class prototype of the embedding).
#include "pipeline/method/cross_entropy_loss.h"
#include "pipeline/training/adaptation_method.h"

namespace jcas {

namespace {

class CrossEntropyMethod : public AdaptationMethod {
 public:
  CrossEntropyMethod(std::string name, std::string title, LabelFilter filter)
      : name_(std::move(name)), title_(std::move(title)), filter_(filter) {}
  std::string name() const override { return name_; }
  std::string title() const override { return title_; }
  bool paper_ablation() const override { return filter_ == LabelFilter::none; }
  SegmentationLoss loss(int, const JcasLossOptions& o, const MethodSettings&) const override {
    return std::make_shared<CrossEntropyLossImpl>(o.lambda);
  }
  LabelFilter label_filter() const override { return filter_; }
  // Plain CE has no knob of its own: the learning rate every method shares. The filters: the share
  // CBST keeps per class in round 0 (its schedule adds cbst_step per round up to cbst_portion, which
  // two or three rounds from 0.2 never reach), and DPL's uncertainty threshold.
  TuningKnob tuning_knob() const override {
    switch (filter_) {
      case LabelFilter::class_balanced:
        return {"retrain.cbst_start", {"0.2", "0.35", "0.5"}};
      case LabelFilter::dpl:
        return {"retrain.dpl_uncertainty", {"0.02", "0.05", "0.1"}};
      default:
        return {"retrain.lr", {"0.0025", "0.005", "0.01"}};
    }
  }

 private:
  std::string name_, title_;
  LabelFilter filter_;
};

}  // namespace

std::shared_ptr<const AdaptationMethod> ce_method() {
  return std::make_shared<CrossEntropyMethod>("ce", "Baseline (CE)", LabelFilter::none);
}

std::shared_ptr<const AdaptationMethod> cbst_method() {
  return std::make_shared<CrossEntropyMethod>("cbst", "Class-balanced self-training", LabelFilter::class_balanced);
}

std::shared_ptr<const AdaptationMethod> dpl_method() {
  return std::make_shared<CrossEntropyMethod>("dpl", "DPL (denoised pseudo labels)", LabelFilter::dpl);
}

}  // namespace jcas
