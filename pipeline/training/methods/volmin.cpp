// VolMin (Li et al., ICML 2021): the class NTM learned with the network, its volume log|det T_C|
// minimised. As its paper and code run it: T_C starts near the identity (their W = -2, the same
// start as the JCAS reference's), no anchor estimate, λ = 1e-4, trained from the first epoch.
// volmin_anchor is the hybrid jcas ran as "volmin" before (revision 1): T_C from the round's
// anchor estimate, JCAS's volume weight β and warm-up.
#include "pipeline/method/cross_entropy_loss.h"
#include "pipeline/training/adaptation_method.h"

namespace jcas {

namespace {

// JCAS's loss with the affinity terms and DAR off and CALC on is VolMin's: the corrected NLL of
// both heads plus a weight times log|det T_C|.
SegmentationLoss volmin_loss(int k, JcasLossOptions o, double volume_weight) {
  o.affinity = o.dar = false;
  o.calc = true;
  o.volume_weight = volume_weight;
  return std::make_shared<JcasLossImpl>(k, o);
}

class VolMinMethod : public AdaptationMethod {
 public:
  std::string name() const override { return "volmin"; }
  std::string title() const override { return "VolMin"; }
  SegmentationLoss loss(int k, const JcasLossOptions& o, const MethodSettings& s) const override {
    return volmin_loss(k, o, s.volmin_lambda);
  }
  bool uses_ntm_estimate() const override { return false; }
  TuningKnob tuning_knob() const override { return {"retrain.volmin_lambda", {"0.0001", "0.01", "1"}}; }
  int revision() const override { return 1; }
};

class AnchoredVolMinMethod : public AdaptationMethod {
 public:
  std::string name() const override { return "volmin_anchor"; }
  std::string title() const override { return "VolMin from the anchor estimate"; }
  bool paper_ablation() const override { return true; }
  SegmentationLoss loss(int k, const JcasLossOptions& o, const MethodSettings&) const override {
    return volmin_loss(k, o, o.volume_weight);
  }
  SegmentationLoss warmup_loss(int, const JcasLossOptions& o) const override {
    return std::make_shared<CrossEntropyLossImpl>(o.lambda);
  }
  TuningKnob tuning_knob() const override { return {"retrain.volume_weight", {"0.1", "0.5", "1"}}; }
};

}  // namespace

std::vector<std::shared_ptr<const AdaptationMethod>> volmin_methods() {
  return {std::make_shared<VolMinMethod>(), std::make_shared<AnchoredVolMinMethod>()};
}

}  // namespace jcas
