#include "pipeline/method/cross_entropy_loss.h"

#include "pipeline/method/affinity_loss.h"
#include "pipeline/method/class_loss.h"

namespace jcas {

namespace F = torch::nn::functional;

torch::Tensor cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels) {
  auto x = resize_bilinear(logits, labels.size(1), labels.size(2));
  return F::cross_entropy(x, labels.to(torch::kLong), F::CrossEntropyFuncOptions().ignore_index(kIgnoreLabel));
}

LossTerms CrossEntropyLossImpl::forward(const torch::Tensor&, const torch::Tensor&, const torch::Tensor& pred1,
                                        const torch::Tensor& pred2, const torch::Tensor& labels, const torch::Tensor&) {
  return head_terms(pred1, pred2, lambda_, [&](const torch::Tensor& p) { return cross_entropy(p, labels); });
}

}  // namespace jcas
