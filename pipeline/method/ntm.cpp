#include "pipeline/method/ntm.h"

#include <stdexcept>
#include <string>

namespace jcas {

LearnableNTMImpl::LearnableNTMImpl(int64_t size, double init) : size_(size) {
  if (size < 2) throw std::invalid_argument("LearnableNTM: size must be >= 2, got " + std::to_string(size));
  weight_ = register_parameter("w", torch::full({size, size}, init, torch::kFloat32));
}

torch::Tensor LearnableNTMImpl::matrix() const {
  auto eye = torch::eye(size_, weight_.options().requires_grad(false));
  auto t = eye + torch::sigmoid(weight_) * (1 - eye);
  // F.normalize(p=1, dim=1): divide by max(L1 norm, 1e-12); entries are positive so |x| = x.
  return t / t.sum(1, /*keepdim=*/true).clamp_min(1e-12);
}

void LearnableNTMImpl::init_from(const torch::Tensor& T) {
  if (T.dim() != 2 || T.size(0) != size_ || T.size(1) != size_)
    throw std::invalid_argument("LearnableNTM::init_from: expected a " + std::to_string(size_) + "x" +
                                std::to_string(size_) + " matrix");
  auto t = T.detach().to(torch::kFloat64).cpu();
  auto diag = t.diagonal();
  if ((diag <= 0).any().item<bool>())
    throw std::invalid_argument("LearnableNTM::init_from: every diagonal entry must be > 0");
  auto ratio = (t / diag.unsqueeze(1)).clamp(1e-7, 1 - 1e-7);
  auto w = torch::log(ratio) - torch::log1p(-ratio);  // logit
  w.diagonal().fill_(-2.0);
  torch::NoGradGuard guard;
  weight_.copy_(w.to(weight_.dtype()));
}

}  // namespace jcas
