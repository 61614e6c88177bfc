// Cross-entropy with logit adjustment (Menon et al., ICLR 2021): the training labels' class prior
// added to the logits while training (tau · log prior), the model read out without it, which moves
// its decisions towards the rare classes.
#include <fmt/format.h>

#include "pipeline/method/cross_entropy_loss.h"
#include "pipeline/training/adaptation_method.h"

namespace jcas {

namespace {

class LogitAdjustedLossImpl : public SegmentationLossImpl {
 public:
  LogitAdjustedLossImpl(int k, double tau, double lambda) : k_(k), tau_(tau), lambda_(lambda) {}
  LossTerms forward(const torch::Tensor&, const torch::Tensor&, const torch::Tensor& pred1, const torch::Tensor& pred2,
                    const torch::Tensor& labels, const torch::Tensor& prior) override {
    if (!prior.defined() || prior.numel() != k_)
      throw std::invalid_argument("ce_prior: needs the class prior (class_dist, one entry per class)");
    auto adjust = [&](const torch::Tensor& logits) {
      return logits + tau_ * prior.to(logits.options()).clamp_min(1e-8).log().view({1, -1, 1, 1});
    };
    return head_terms(pred1, pred2, lambda_, [&](const torch::Tensor& p) { return cross_entropy(adjust(p), labels); });
  }

 private:
  int k_;
  double tau_, lambda_;
};

class LogitAdjustedMethod : public AdaptationMethod {
 public:
  std::string name() const override { return "ce_prior"; }
  std::string title() const override { return "CE + class prior (logit adjustment)"; }
  SegmentationLoss loss(int k, const JcasLossOptions& o, const MethodSettings&) const override {
    return std::make_shared<LogitAdjustedLossImpl>(k, o.prior_tau, o.lambda);
  }
  TuningKnob tuning_knob() const override { return {"retrain.prior_tau", {"0.5", "1", "2"}}; }
};

}  // namespace

std::shared_ptr<const AdaptationMethod> ce_prior_method() { return std::make_shared<LogitAdjustedMethod>(); }

}  // namespace jcas
