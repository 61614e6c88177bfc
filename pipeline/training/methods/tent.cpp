// Tent (Wang et al., ICLR 2021): after AdaBN, only BatchNorm's affine parameters train, on the mean
// Shannon entropy of the prediction (no labels).
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
    return head_terms(mean_entropy(pred1, labels), mean_entropy(pred2, labels), lambda_);
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
  std::string title() const override { return "Tent (entropy, BatchNorm affine)"; }
  SegmentationLoss loss(int, const JcasLossOptions& o) const override {
    return std::make_shared<EntropyLossImpl>(o.lambda);
  }
  bool starts_with_adabn() const override { return true; }
  std::vector<torch::Tensor> trainable_parameters(const SegmentationModel& model) const override {
    return batchnorm_affine_parameters(model);
  }
};

}  // namespace

std::shared_ptr<const AdaptationMethod> tent_method() { return std::make_shared<TentMethod>(); }

}  // namespace jcas
