#include "pipeline/method/class_to_affinity.h"

#include <stdexcept>

namespace jcas {

torch::Tensor class_to_affinity(const torch::Tensor& class_ntm, const torch::Tensor& class_dist) {
  if (class_ntm.dim() != 2 || class_ntm.size(0) != class_ntm.size(1))
    throw std::invalid_argument("class_to_affinity: the class NTM must be square");
  if (class_dist.dim() != 1 || class_dist.size(0) != class_ntm.size(0))
    throw std::invalid_argument("class_to_affinity: the class distribution must have one entry per class");
  const auto& T = class_ntm;
  auto N = class_dist.to(T.dtype());
  auto n2 = N * N;
  auto q = n2.sum();                                  // P(clean pair similar)
  auto same = (n2 * (T * T).sum(1)).sum();            // P(clean similar, noisy similar)
  auto s = torch::matmul(N.unsqueeze(0), T).squeeze(0);  // noisy class marginal
  auto noisy_similar = (s * s).sum();                  // P(noisy pair similar)
  auto total = N.sum() * N.sum();
  // A distribution with a single class has no dissimilar pairs (and none with no mass has no
  // similar ones): that row carries no evidence of noise and is the identity row, as in
  // LabelNoiseStats, instead of 0/0.
  auto dis = total - q;
  auto tiny = torch::full({}, 1e-12, T.options());
  auto sim_sim = torch::where(q > 1e-12, same / torch::max(q, tiny), torch::ones({}, T.options()));
  auto dis_sim = torch::where(dis > 1e-12, (noisy_similar - same) / torch::max(dis, tiny), torch::zeros({}, T.options()));
  auto row0 = torch::stack({1 - dis_sim, dis_sim});
  auto row1 = torch::stack({1 - sim_sim, sim_sim});
  return torch::stack({row0, row1});
}

torch::Tensor class_to_affinity_reference_order(const torch::Tensor& class_ntm, const torch::Tensor& class_dist) {
  return class_to_affinity(class_ntm, class_dist).flip({0, 1});
}

}  // namespace jcas
