// A new adaptation method with a loss of its own, in one file: the focal loss.
#include "tests/tools/toy_method.h"

#include <atomic>

#include "pipeline/method/class_loss.h"

namespace jcas::testing {

namespace {

std::atomic<int> calls{0};

class FocalLossImpl : public SegmentationLossImpl {
 public:
  explicit FocalLossImpl(double lambda) : lambda_(lambda) {}
  LossTerms forward(const torch::Tensor&, const torch::Tensor&, const torch::Tensor& pred1, const torch::Tensor& pred2,
                    const torch::Tensor& labels, const torch::Tensor&) override {
    ++calls;
    return head_terms(pred1, pred2, lambda_, [&](const torch::Tensor& p) { return focal(p, labels); });
  }

 private:
  // Mean over the labelled pixels of -(1 - p_y)^2 log p_y.
  static torch::Tensor focal(const torch::Tensor& logits, const torch::Tensor& labels) {
    auto logp = torch::log_softmax(resize_bilinear(logits, labels.size(1), labels.size(2)), 1);
    auto y = labels.to(torch::kLong);
    auto keep = y != 255;
    auto logpy = logp.gather(1, y.masked_fill(~keep, 0).unsqueeze(1)).squeeze(1);
    auto term = -(1 - logpy.exp()).pow(2) * logpy;
    return term.masked_select(keep).mean();
  }
  double lambda_;
};

class FocalMethod : public AdaptationMethod {
 public:
  std::string name() const override { return "focal"; }
  std::string title() const override { return "Focal loss"; }
  SegmentationLoss loss(int, const JcasLossOptions& o, const MethodSettings&) const override {
    return std::make_shared<FocalLossImpl>(o.lambda);
  }
};

}  // namespace

std::shared_ptr<const AdaptationMethod> focal_method() { return std::make_shared<FocalMethod>(); }
int focal_loss_calls() { return calls; }

}  // namespace jcas::testing
