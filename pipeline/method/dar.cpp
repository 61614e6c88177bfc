#include "pipeline/method/dar.h"

#include "pipeline/method/batched_matmul.h"

namespace jcas {

namespace {
// B×K×h×w -> B×N×K and back.
torch::Tensor to_rows(const torch::Tensor& p) {
  return p.permute({0, 2, 3, 1}).reshape({p.size(0), p.size(2) * p.size(3), p.size(1)});
}
torch::Tensor from_rows(const torch::Tensor& rows, const torch::Tensor& like) {
  return rows.reshape({like.size(0), like.size(2), like.size(3), like.size(1)}).permute({0, 3, 1, 2});
}
// 1(1ᵀP) − AP cancels when a pixel is like every other (its row of 1 − A sums to ~0): that row sum is
// floored at this share of N, so float cancellation stays bounded (both forms; the exact formula
// would divide rounding noise by ~0 there).
constexpr double kAlikeFloor = 1e-6;
}  // namespace

torch::Tensor dar_dense(const torch::Tensor& affinity, const torch::Tensor& grid_logits, DarComplement complement) {
  TORCH_CHECK(grid_logits.dim() == 4, "dar_dense: expected B×K×h×w logits");
  TORCH_CHECK(affinity.size(1) == grid_logits.size(2) * grid_logits.size(3), "dar_dense: grid size mismatch");
  return dar_from_products(batched_matmul(affinity, dar_product_operand(grid_logits)), grid_logits, complement);
}

torch::Tensor dar_product_operand(const torch::Tensor& grid_logits) {
  auto p = to_rows(grid_logits);
  return torch::cat({p, torch::ones({p.size(0), p.size(1), 1}, p.options())}, 2);
}

torch::Tensor dar_from_products(const torch::Tensor& aq, const torch::Tensor& grid_logits, DarComplement complement) {
  TORCH_CHECK(grid_logits.dim() == 4, "dar_from_products: expected B×K×h×w logits");
  const int64_t K = grid_logits.size(1);
  TORCH_CHECK(aq.dim() == 3 && aq.size(1) == grid_logits.size(2) * grid_logits.size(3) && aq.size(2) == K + 1,
              "dar_from_products: expected A·[P, 1] of B×N×(K+1)");
  // Â = diag(1/s)·A with s the row sums (A is clamped >= 1e-10, so its L1 norms are its sums and
  // F.normalize's max(·, 1e-12) is kept), hence ÂP = (AP)/s without forming Â. The rows of 1 − Â
  // are >= 0 and sum to N − ΣÂ, and (1 − Â)P = 1(1ᵀP) − ÂP. Same values as the reference's two
  // normalisations and two N×N products (tested against them), at the cost of one product. The
  // reference normalises 1 − Â (its `affinity_map` is already row-normalised), not 1 − A; the
  // fixture confirms it. The affinity complement: (1 − A)P = 1(1ᵀP) − AP, rows summing to N − s.
  const double n = static_cast<double>(aq.size(1));
  const auto a_p = aq.narrow(2, 0, K), a_rows = aq.narrow(2, K, 1);
  const auto s = a_rows.clamp_min(1e-12);
  auto p = to_rows(grid_logits);
  auto psum = p.sum(1, /*keepdim=*/true);
  auto ahat_p = a_p / s;
  auto ainv_p = complement == DarComplement::normalised
                    ? (psum - ahat_p) / (n - a_rows / s).clamp_min(1e-12)
                    : (psum - a_p) / (n - a_rows).clamp_min(kAlikeFloor * n);
  auto intra = grid_logits + from_rows(ahat_p, grid_logits);
  auto inter = grid_logits - from_rows(ainv_p, grid_logits);
  return (intra + inter) / 2.;
}

torch::Tensor dar_lowrank(const torch::Tensor& fhat, const torch::Tensor& grid_logits, DarComplement complement) {
  TORCH_CHECK(grid_logits.dim() == 4, "dar_lowrank: expected B×K×h×w logits");
  TORCH_CHECK(fhat.size(1) == grid_logits.size(2) * grid_logits.size(3), "dar_lowrank: grid size mismatch");
  constexpr double kFloor = 1e-10;  // the dense form's clamp minimum
  const double n = static_cast<double>(fhat.size(1));
  auto p = to_rows(grid_logits);                                    // B×N×K
  auto psum = p.sum(1, /*keepdim=*/true);                           // 1ᵀP, B×1×K
  auto ap = batched_matmul(fhat, batched_matmul(fhat.transpose(1, 2), p)) + kFloor * psum;  // A P
  auto rows = batched_matmul(fhat, fhat.sum(1).unsqueeze(2)) + kFloor * n;             // A 1, B×N×1
  auto ahat_p = ap / rows.abs().clamp_min(1e-12);                   // F.normalize(p=1): max(‖·‖₁, 1e-12)
  // (1 − Â)P = 1(1ᵀP) − ÂP; every row of 1 − Â is >= 0 and sums to N − 1. (1 − A)'s rows sum to N − A1.
  auto ainv_p = complement == DarComplement::normalised ? (psum - ahat_p) / std::max(n - 1, 1e-12)
                                                        : (psum - ap) / (n - rows).clamp_min(kAlikeFloor * n);
  auto intra = grid_logits + from_rows(ahat_p, grid_logits);
  auto inter = grid_logits - from_rows(ainv_p, grid_logits);
  return (intra + inter) / 2.;
}

}  // namespace jcas
