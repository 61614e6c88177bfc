// SparseReg (the reference's tools_ablation/SparseReg.py): cross-entropy on L2-normalised,
// temperature-scaled logits plus a p-norm penalty that pushes predictions towards one-hot.
#include "pipeline/method/affinity_loss.h"
#include "pipeline/method/class_loss.h"
#include "pipeline/training/adaptation_method.h"

namespace jcas {

namespace {

namespace F = torch::nn::functional;

// Logits resized to the label size, L2-normalised over classes (eps 1e-12), divided by τ; CE on
// them plus weight · mean over all pixels of Σ_k clamp(softmax, 1e-7, 1)^p.
class SparseRegLossImpl : public SegmentationLossImpl {
 public:
  explicit SparseRegLossImpl(JcasLossOptions o) : o_(std::move(o)) {}
  LossTerms forward(const torch::Tensor&, const torch::Tensor&, const torch::Tensor& pred1, const torch::Tensor& pred2,
                    const torch::Tensor& labels, const torch::Tensor&) override {
    return head_terms(pred1, pred2, o_.lambda, [&](const torch::Tensor& p) { return term(p, labels); });
  }

 private:
  torch::Tensor term(const torch::Tensor& logits, const torch::Tensor& labels) const {
    auto x = resize_bilinear(logits, labels.size(1), labels.size(2));
    x = F::normalize(x, F::NormalizeFuncOptions().p(2).dim(1)) / o_.sparse_tau;
    auto ce = F::cross_entropy(x, labels.to(torch::kLong), F::CrossEntropyFuncOptions().ignore_index(kIgnoreLabel));
    auto pnorm = torch::softmax(x, 1).clamp(1e-7, 1).pow(o_.sparse_p).sum(1).mean();
    return ce + o_.sparse_weight * pnorm;
  }
  JcasLossOptions o_;
};

class SparseRegMethod : public AdaptationMethod {
 public:
  std::string name() const override { return "sparsereg"; }
  std::string title() const override { return "SparseReg"; }
  bool paper_ablation() const override { return true; }
  SegmentationLoss loss(int, const JcasLossOptions& o, const MethodSettings&) const override {
    return std::make_shared<SparseRegLossImpl>(o);
  }
};

}  // namespace

std::shared_ptr<const AdaptationMethod> sparsereg_method() { return std::make_shared<SparseRegMethod>(); }

}  // namespace jcas
