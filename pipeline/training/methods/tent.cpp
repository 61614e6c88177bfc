// Tent (Wang et al., ICLR 2021): the mean Shannon entropy of the prediction minimised (no labels),
// only BatchNorm's affine parameters trained.
//   tent          as its paper and code run it: one online pass over the target images per round,
//                 BatchNorm normalising with each batch's statistics (never the running ones), Adam
//                 at 1e-3 without weight decay, one rate for every parameter, no augmentation; the
//                 model read out with each image's own statistics (its test-time normalisation).
//   tent_offline  the variant jcas ran as "tent" before (revision 1 moved that name): AdaBN first,
//                 the [retrain] epochs and SGD, read out with the target's running statistics.
#include "pipeline/method/class_loss.h"
#include "pipeline/model/batchnorm_layers.h"
#include "pipeline/training/adaptation_method.h"

namespace jcas {

namespace {

class EntropyLossImpl : public SegmentationLossImpl {
 public:
  explicit EntropyLossImpl(double lambda) : lambda_(lambda) {}
  LossTerms forward(const torch::Tensor&, const torch::Tensor&, const torch::Tensor& pred1, const torch::Tensor& pred2,
                    const torch::Tensor& labels, const torch::Tensor&) override {
    return head_terms(pred1, pred2, lambda_, [&](const torch::Tensor& p) { return mean_entropy(p, labels); });
  }

 private:
  // At the label size, over every pixel (labels give the size only).
  static torch::Tensor mean_entropy(const torch::Tensor& logits, const torch::Tensor& labels) {
    auto logp = torch::log_softmax(resize_bilinear(logits, labels.size(1), labels.size(2)), 1);
    return -(logp.exp() * logp).sum(1).mean();
  }
  double lambda_;
};

class TentMethod : public AdaptationMethod {
 public:
  std::string name() const override { return "tent"; }
  std::string title() const override { return "Tent (online, batch statistics)"; }
  SegmentationLoss loss(int, const JcasLossOptions& o, const MethodSettings&) const override {
    return std::make_shared<EntropyLossImpl>(o.lambda);
  }
  bool reads_labels() const override { return false; }
  std::vector<torch::Tensor> trainable_parameters(const SegmentationModel& model) const override {
    return batchnorm_affine_parameters(model);
  }
  void configure(TrainerOptions& run, const MethodSettings& s) const override {
    run.epochs = 1;
    run.warmup_epochs = 0;
    run.optimizer = Optimizer::adam;
    run.lr = s.tent_lr;
    run.weight_decay = 0;
    run.poly_power = 0;
    run.head_lr_factor = 1;
    run.flips = false;
    run.batchnorm_statistics_frozen = false;
  }
  InferenceMode readout(const JcasLossOptions& o) const override {
    InferenceMode m = InferenceMode::of(o, false);
    m.image_statistics = true;
    return m;
  }
  int revision() const override { return 1; }
  TuningKnob tuning_knob() const override { return {"retrain.tent_lr", {"0.0003", "0.001", "0.003"}}; }
};

class OfflineTentMethod : public AdaptationMethod {
 public:
  std::string name() const override { return "tent_offline"; }
  std::string title() const override { return "Tent, offline epochs (AdaBN, SGD)"; }
  SegmentationLoss loss(int, const JcasLossOptions& o, const MethodSettings&) const override {
    return std::make_shared<EntropyLossImpl>(o.lambda);
  }
  bool starts_with_adabn() const override { return true; }
  bool reads_labels() const override { return false; }
  std::vector<torch::Tensor> trainable_parameters(const SegmentationModel& model) const override {
    return batchnorm_affine_parameters(model);
  }
  TuningKnob tuning_knob() const override { return {"retrain.lr", {"0.0025", "0.005", "0.01"}}; }
};

}  // namespace

std::vector<std::shared_ptr<const AdaptationMethod>> tent_methods() {
  return {std::make_shared<TentMethod>(), std::make_shared<OfflineTentMethod>()};
}

}  // namespace jcas
