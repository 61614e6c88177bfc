// JCAS (Guo & Yuan, MICCAI 2022) and its ablation rows: affinity reasoning, DAR and CALC switched
// on one at a time and together; and JCAS on labels filtered as CBST and DPL filter them, so that
// the comparison with those baselines is between losses.
#include <fmt/format.h>

#include "pipeline/training/adaptation_method.h"

namespace jcas {

namespace {

class JcasMethod : public AdaptationMethod {
 public:
  JcasMethod(std::string name, std::string title, JcasComponents on, LabelFilter filter = LabelFilter::none)
      : name_(std::move(name)), title_(std::move(title)), on_(on), filter_(filter) {}
  std::string name() const override { return name_; }
  std::string title() const override { return title_; }
  bool paper_ablation() const override { return filter_ == LabelFilter::none; }
  JcasComponents components() const override { return on_; }
  SegmentationLoss loss(int k, const JcasLossOptions& o, const MethodSettings&) const override {
    return std::make_shared<JcasLossImpl>(k, with_switches(o, on_.calc));
  }
  // The reference's warm-up of a correcting model: the same network terms without the correction.
  SegmentationLoss warmup_loss(int k, const JcasLossOptions& o) const override {
    if (!on_.calc) return nullptr;
    return std::make_shared<JcasLossImpl>(k, with_switches(o, false));
  }
  LabelFilter label_filter() const override { return filter_; }
  // The affinity terms' weight (the knob the paper's sensitivity analysis varies).
  TuningKnob tuning_knob() const override { return {"retrain.affinity_weight", {"0.03", "0.1", "0.3"}}; }
  // The reference evaluates models trained with DAR by the DAR read-out.
  InferenceMode readout(const JcasLossOptions& o) const override {
    return InferenceMode::of(o, on_.affinity && on_.dar);
  }

 private:
  JcasLossOptions with_switches(JcasLossOptions o, bool calc) const {
    o.affinity = on_.affinity;
    o.dar = on_.dar;
    o.calc = calc;
    return o;
  }
  std::string name_, title_;
  JcasComponents on_;
  LabelFilter filter_;
};

}  // namespace

// "+DAR" and "+CALC" each add one component to "+affinity", and JCAS adds both, so the ablation
// rows show what each component brings alone and together.
std::vector<std::shared_ptr<const AdaptationMethod>> jcas_ablation_methods() {
  return {std::make_shared<JcasMethod>("affinity", "+ Affinity", JcasComponents{true, false, false}),
          std::make_shared<JcasMethod>("dar", "+ Affinity + DAR", JcasComponents{true, true, false}),
          std::make_shared<JcasMethod>("calc", "+ Affinity + CALC", JcasComponents{true, false, true}),
          std::make_shared<JcasMethod>("jcas", "JCAS (Affinity + DAR + CALC)", JcasComponents{true, true, true})};
}

std::vector<std::shared_ptr<const AdaptationMethod>> jcas_on_filtered_labels_methods() {
  const JcasComponents all{true, true, true};
  return {std::make_shared<JcasMethod>("jcas_cbst", "JCAS on class-balanced labels", all, LabelFilter::class_balanced),
          std::make_shared<JcasMethod>("jcas_dpl", "JCAS on DPL-denoised labels", all, LabelFilter::dpl)};
}

}  // namespace jcas
