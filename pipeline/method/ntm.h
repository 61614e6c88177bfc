#pragma once
// Learnable noise transition matrix (DESIGN §3.1), as the reference's `NTM` module:
//   T = rownormalize_L1(I + sigmoid(W) ⊙ (1 − I)).
// Rows = clean class, columns = noisy class. The diagonal of W never influences T (it is masked),
// so its gradient is always zero, as in the reference.
#include <torch/torch.h>

namespace jcas {

class LearnableNTMImpl : public torch::nn::Module {
 public:
  // size×size matrix with every logit set to `init` (reference: −2).
  explicit LearnableNTMImpl(int64_t size, double init = -2.0);

  // The row-stochastic matrix T (differentiable in W).
  torch::Tensor matrix() const;
  torch::Tensor forward() const { return matrix(); }

  // Sets W so that matrix() reproduces the row-stochastic `T`: for i ≠ j, T_ij / T_ii = sigmoid(W_ij),
  // so W_ij = logit(T_ij / T_ii). The ratio is clamped to [1e-7, 1 − 1e-7]: an exact zero becomes
  // ≈ 1e-7 · T_ii and an entry ≥ T_ii (not representable: this parameterisation keeps the diagonal the
  // strict maximum of each row) is capped just below T_ii. Diagonal logits are set to −2 (unused).
  // Throws std::invalid_argument on a non-square matrix of the wrong size or a row with T_ii <= 0.
  void init_from(const torch::Tensor& T);

  torch::Tensor& weight() { return weight_; }
  const torch::Tensor& weight() const { return weight_; }
  int64_t size() const { return size_; }

 private:
  int64_t size_;
  torch::Tensor weight_;
};
TORCH_MODULE(LearnableNTM);

}  // namespace jcas
