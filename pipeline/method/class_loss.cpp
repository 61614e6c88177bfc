#include "pipeline/method/class_loss.h"

#include "pipeline/method/affinity_loss.h"

namespace jcas {

namespace F = torch::nn::functional;

torch::Tensor resize_bilinear(const torch::Tensor& x, int64_t height, int64_t width) {
  if (x.size(2) == height && x.size(3) == width) return x;  // align_corners=true is the identity here
  return F::interpolate(x, F::InterpolateFuncOptions()
                               .size(std::vector<int64_t>{height, width})
                               .mode(torch::kBilinear)
                               .align_corners(true));
}

torch::Tensor corrected_nll(const torch::Tensor& logits, const torch::Tensor& labels, const torch::Tensor& class_ntm) {
  TORCH_CHECK(logits.dim() == 4 && labels.dim() == 3, "corrected_nll: expected B×K×H×W logits and B×H×W labels");
  auto p = torch::softmax(logits, 1);
  if (class_ntm.defined()) p = torch::einsum("bkhw,kj->bjhw", {p, class_ntm});
  auto target = labels.to(torch::kLong);
  auto log_p = torch::log(p.clamp(1e-10, 1.0)).contiguous();  // nll_loss2d needs contiguous input
  if (!(target != kIgnoreLabel).any().item<bool>()) return log_p.sum() * 0;
  return F::nll_loss(log_p, target, F::NLLLossFuncOptions().ignore_index(kIgnoreLabel));
}

torch::Tensor class_branch_loss(const torch::Tensor& grid_logits, const torch::Tensor& dar_logits,
                                const torch::Tensor& labels, const torch::Tensor& class_ntm) {
  const auto H = labels.size(1), W = labels.size(2);
  auto plain = corrected_nll(resize_bilinear(grid_logits, H, W), labels, class_ntm);
  if (!dar_logits.defined()) return plain;
  return corrected_nll(resize_bilinear(dar_logits, H, W), labels, class_ntm) + plain;
}

}  // namespace jcas
