#include "pipeline/method/affinity_loss.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "pipeline/method/batched_matmul.h"
#include "pipeline/method/log_product.h"

namespace jcas {

namespace F = torch::nn::functional;

const std::vector<std::pair<AffinityIgnore, const char*>>& EnumNames<AffinityIgnore>::table() {
  static const std::vector<std::pair<AffinityIgnore, const char*>> t = {{AffinityIgnore::exclude, "exclude"},
                                                                        {AffinityIgnore::as_class, "as_class"}};
  return t;
}

torch::Tensor normalized_embeddings(const torch::Tensor& feat, int64_t grid_h, int64_t grid_w) {
  TORCH_CHECK(feat.dim() == 4, "normalized_embeddings: expected B×d×h×w features");
  auto x = F::interpolate(feat, F::InterpolateFuncOptions()
                                    .size(std::vector<int64_t>{grid_h, grid_w})
                                    .mode(torch::kBilinear)
                                    .align_corners(true));
  const auto B = feat.size(0), d = feat.size(1);
  x = torch::relu(x.permute({0, 2, 3, 1}).reshape({B, grid_h * grid_w, d}));
  // The reference divides by (norm + 1e-9) rather than max(norm, eps): keep it for parity.
  return x / (x.norm(2, /*dim=*/2, /*keepdim=*/true) + 1e-9);
}

torch::Tensor grid_labels(const torch::Tensor& labels, int64_t grid_h, int64_t grid_w) {
  TORCH_CHECK(labels.dim() == 3, "grid_labels: expected B×H×W labels");
  // Label values (<= 255) are exact in float32; torch's nearest uses floor(dst · in/out) like the reference.
  auto l = F::interpolate(labels.unsqueeze(1).to(torch::kFloat32),
                          F::InterpolateFuncOptions().size(std::vector<int64_t>{grid_h, grid_w}).mode(torch::kNearest));
  return l.reshape({labels.size(0), grid_h * grid_w}).to(torch::kLong);
}

namespace {

// A = clamp(F̂F̂ᵀ, 1e-10, 1) with the backward of a Gram matrix: dF̂ = (G + Gᵀ)F̂ in one product,
// where autograd through the product and the clamp takes two products and a masking pass.
class ClampedGram : public torch::autograd::Function<ClampedGram> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor fhat) {
    auto raw = batched_matmul(fhat, fhat.transpose(1, 2));
    ctx->save_for_backward({fhat});
    ctx->saved_data["inside"] = (raw >= 1e-10) & (raw <= 1.0);  // where the clamp passes the gradient
    return raw.clamp_(1e-10, 1.0);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const auto fhat = ctx->get_saved_variables()[0];
    auto g = grad_out[0] * ctx->saved_data["inside"].toTensor();
    return {batched_matmul(g + g.transpose(1, 2), fhat)};
  }
};

}  // namespace

torch::Tensor affinity_matrix(const torch::Tensor& fhat) {
  if (!fhat.device().is_cpu()) return torch::bmm(fhat, fhat.transpose(1, 2)).clamp(1e-10, 1.0);
  return ClampedGram::apply(fhat);
}

torch::Tensor affinity_bce_dense_ops(const torch::Tensor& affinity, const torch::Tensor& grid_labels,
                                 const torch::Tensor& affinity_ntm, AffinityIgnore ignore) {
  auto a = affinity;
  if (affinity_ntm.defined()) a = (1 - affinity) * affinity_ntm[0][1] + affinity * affinity_ntm[1][1];
  auto y = (grid_labels.unsqueeze(2) == grid_labels.unsqueeze(1)).to(a.dtype());
  if (ignore == AffinityIgnore::as_class) return torch::binary_cross_entropy(a, y);
  auto valid = (grid_labels != kIgnoreLabel).to(a.dtype());
  auto w = valid.unsqueeze(2) * valid.unsqueeze(1);
  auto count = w.sum();
  auto sum = torch::binary_cross_entropy(a, y, w, at::Reduction::Sum);
  if (count.item<double>() == 0) return sum * 0;  // keeps the graph, value 0
  return sum / count;
}

namespace {

// Square tiles of A: 1024² floats = 4 MiB.
int64_t auto_tile(int64_t n) { return std::min<int64_t>(std::max<int64_t>(n, 1), 1024); }

// One row block of the BCE. On entry `a` holds A = F̂_r F̂ᵀ (rows × n). Returns the summed BCE of the
// block. With `grad`, overwrites `a` with dL_sum/dA and adds dL_sum/dT_A[0][1], dL_sum/dT_A[1][1] into
// g01, g11 (L_sum = summed BCE).
double bce_block(float* a, int64_t rows, int64_t n, const int32_t* code_r, const float* w_r, const int32_t* code,
                 const float* w, float t01, float t11, bool grad, double& g01, double& g11) {
  constexpr float kLogFloor = 3.7200760e-44f;  // exp(−100): torch's BCE clamps log at −100
  const float dt = t11 - t01;
  std::vector<double> loss(rows, 0), acc01(rows, 0), acc11(rows, 0);
  at::parallel_for(0, rows, 4, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float* ar = a + r * n;
      if (w_r[r] == 0) {  // the whole row is excluded
        if (grad) std::fill(ar, ar + n, 0.f);
        continue;
      }
      const int32_t ci = code_r[r];
      double s01 = 0, s11 = 0;
      int64_t floored = 0;
      LogSum log_sum;
      for (int64_t j = 0; j < n; ++j) {
        const float raw = ar[j];
        const float ac = std::min(std::max(raw, 1e-10f), 1.f);
        const float ap = (1 - ac) * t01 + ac * t11;
        const bool y = code[j] == ci;
        const float wj = w[j];
        float v = wj != 0 ? (y ? ap : 1 - ap) : 1.f;  // likelihood of the pair; 1 (log 0) when excluded
        if (v < kLogFloor) {
          ++floored;
          v = 1.f;
        }
        log_sum.mantissa *= v;
        if ((j & 3) == 3) log_sum.renormalise();  // 4 factors >= e^−100 cannot underflow a double
        if (grad) {
          // torch's BCE backward: (x − y) / max(x(1 − x), 1e-12); the clamp passes the gradient inside [1e-10, 1].
          const float gp = wj * (ap - (y ? 1.f : 0.f)) / std::max(ap * (1 - ap), 1e-12f);
          s01 += gp * (1 - ac);
          s11 += gp * ac;
          ar[j] = (raw >= 1e-10f && raw <= 1.f) ? gp * dt : 0.f;
        }
      }
      loss[r] = 100.0 * static_cast<double>(floored) - log_sum.value();
      acc01[r] = s01;
      acc11[r] = s11;
    }
  });
  double total = 0;
  for (int64_t r = 0; r < rows; ++r) {
    total += loss[r];
    g01 += acc01[r];
    g11 += acc11[r];
  }
  return total;
}

// Forward computes the loss and, when an input needs it, its gradient in the same pass over the row
// blocks of A (the loss is a scalar, so backward only scales them): A is formed once, not twice.
class TiledAffinityBce : public torch::autograd::Function<TiledAffinityBce> {
 public:
  // fhat B×N×d float32 contiguous; ta = [T_A[0][1], T_A[1][1]]; codes B×N int32; weights B×N float (0/1).
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor fhat, torch::Tensor ta,
                               torch::Tensor codes, torch::Tensor weights, int64_t block, double count, bool grad) {
    RECORD_FUNCTION("jcas::affinity_bce_tiled", std::vector<c10::IValue>());  // named in autograd profiles
    const auto B = fhat.size(0), n = fhat.size(1);
    auto dfhat = torch::zeros_like(fhat);
    auto dta = torch::zeros({2}, ta.options());
    if (count == 0) {
      ctx->saved_data["dfhat"] = dfhat;
      ctx->saved_data["dta"] = dta;
      return torch::zeros({}, fhat.options());
    }
    const float t01 = ta[0].item<float>(), t11 = ta[1].item<float>();
    const int64_t tile = std::min(block, n);
    // Images in parallel (each tile product on one BLAS thread, the row pass inline); with a single
    // image, its row pass is the parallel part.
    std::vector<double> totals(B, 0), g01s(B, 0), g11s(B, 0);
    at::parallel_for(0, B, 1, [&](int64_t first, int64_t last) {
      torch::NoGradGuard no_grad;  // grad mode is per thread: the worker's does not follow the caller's
      auto abuf = torch::empty({tile * tile}, fhat.options());
      for (int64_t b = first; b < last; ++b) {
        auto fb = fhat[b];
        auto db = dfhat[b];
        const int32_t* code = codes[b].data_ptr<int32_t>();
        const float* w = weights[b].data_ptr<float>();
        // A is symmetric and so is every pair's loss: visit the tiles (I, J) with J >= I only, counting
        // an off-diagonal tile twice. With G = dL/dA: dF̂_I += 2·G_IJ·F̂_J and dF̂_J += 2·G_IJᵀ·F̂_I; on a
        // diagonal tile (G_II + G_IIᵀ)·F̂_I = 2·G_II·F̂_I.
        for (int64_t r0 = 0; r0 < n; r0 += tile) {
          const int64_t rows = std::min(tile, n - r0);
          auto fr = fb.narrow(0, r0, rows);
          for (int64_t c0 = r0; c0 < n; c0 += tile) {
            const int64_t cols = std::min(tile, n - c0);
            auto a = abuf.narrow(0, 0, rows * cols).view({rows, cols});
            auto fc = fb.narrow(0, c0, cols);
            at::mm_out(a, fr, fc.t());
            const double mult = c0 == r0 ? 1.0 : 2.0;
            double t01_grad = 0, t11_grad = 0;
            totals[b] += mult * bce_block(a.data_ptr<float>(), rows, cols, code + r0, w + r0, code + c0, w + c0, t01,
                                          t11, grad, t01_grad, t11_grad);
            g01s[b] += mult * t01_grad;
            g11s[b] += mult * t11_grad;
            if (grad) {
              db.narrow(0, r0, rows).addmm_(a, fc, /*beta=*/1, /*alpha=*/2);
              if (c0 != r0) db.narrow(0, c0, cols).addmm_(a.t(), fr, /*beta=*/1, /*alpha=*/2);
            }
          }
        }
      }
    });
    double total = 0, g01 = 0, g11 = 0;
    for (int64_t b = 0; b < B; ++b) total += totals[b], g01 += g01s[b], g11 += g11s[b];
    dfhat.div_(count);
    dta[0] = g01 / count;
    dta[1] = g11 / count;
    ctx->saved_data["dfhat"] = dfhat;
    ctx->saved_data["dta"] = dta;
    return torch::full({}, total / count, fhat.options());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    auto g = grad_out[0];
    return {ctx->saved_data["dfhat"].toTensor() * g, ctx->saved_data["dta"].toTensor() * g, {}, {}, {}, {}, {}};
  }
};

// The dense form on the CPU: the same row pass as the tiles over the materialised A (B×N×N
// float32), in place of nine N×N tensor operations and their backwards.
class DenseAffinityBce : public torch::autograd::Function<DenseAffinityBce> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor affinity, torch::Tensor ta,
                               torch::Tensor codes, torch::Tensor weights, double count, bool grad) {
    RECORD_FUNCTION("jcas::affinity_bce_dense", std::vector<c10::IValue>());  // named in autograd profiles
    const auto B = affinity.size(0), n = affinity.size(1);
    auto work = grad ? affinity.clone() : affinity;  // with grad, overwritten with dL/dA
    double total = 0, g01 = 0, g11 = 0;
    if (count > 0) {
      const float t01 = ta[0].item<float>(), t11 = ta[1].item<float>();
      for (int64_t b = 0; b < B; ++b) {
        const int32_t* code = codes[b].data_ptr<int32_t>();
        const float* w = weights[b].data_ptr<float>();
        total += bce_block(work[b].data_ptr<float>(), n, n, code, w, code, w, t01, t11, grad, g01, g11);
      }
    }
    const double scale = count > 0 ? 1.0 / count : 0.0;
    if (grad) {
      ctx->saved_data["da"] = count > 0 ? work.mul_(scale) : work.zero_();
      ctx->saved_data["dta"] = torch::tensor({static_cast<float>(g01 * scale), static_cast<float>(g11 * scale)});
    }
    return torch::full({}, total * scale, affinity.options());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    auto g = grad_out[0];
    return {ctx->saved_data["da"].toTensor() * g, ctx->saved_data["dta"].toTensor() * g, {}, {}, {}, {}};
  }
};

// What both row-pass forms read: labels as int32 codes, each pixel's weight (0 = excluded), the
// number of weighted pairs, and [T_A[0][1], T_A[1][1]] (the identity's [0, 1] without correction:
// then A' = A exactly).
struct PairInputs {
  torch::Tensor codes, weights, ta;
  double count = 0;
  PairInputs(const torch::Tensor& grid_labels, const torch::Tensor& affinity_ntm, AffinityIgnore ignore) {
    auto labels = grid_labels.to(torch::kLong);
    codes = labels.to(torch::kInt32).contiguous();
    weights = (ignore == AffinityIgnore::exclude ? (labels != kIgnoreLabel) : torch::ones_like(labels, torch::kBool))
                  .to(torch::kFloat32)
                  .contiguous();
    const auto per_image = weights.sum(1).to(torch::kFloat64);
    count = (per_image * per_image).sum().item<double>();
    ta = affinity_ntm.defined() ? torch::stack({affinity_ntm[0][1], affinity_ntm[1][1]}).to(torch::kFloat32)
                                : torch::tensor({0.f, 1.f});
  }
};

}  // namespace

torch::Tensor affinity_bce_tiled(const torch::Tensor& fhat, const torch::Tensor& grid_labels,
                                 const torch::Tensor& affinity_ntm, AffinityIgnore ignore, int64_t block_rows) {
  TORCH_CHECK(fhat.dim() == 3 && fhat.scalar_type() == torch::kFloat32, "affinity_bce_tiled: F̂ must be B×N×d float32");
  TORCH_CHECK(fhat.device().is_cpu(), "affinity_bce_tiled: CPU tensors only (use affinity_impl = dense on a GPU)");
  TORCH_CHECK(grid_labels.dim() == 2 && grid_labels.size(0) == fhat.size(0) && grid_labels.size(1) == fhat.size(1),
              "affinity_bce_tiled: grid labels must be B×N");
  const auto n = fhat.size(1);
  const PairInputs pairs(grid_labels, affinity_ntm, ignore);
  const bool grad = torch::GradMode::is_enabled() && (fhat.requires_grad() || pairs.ta.requires_grad());
  const int64_t block = block_rows > 0 ? block_rows : auto_tile(n);
  return TiledAffinityBce::apply(fhat.contiguous(), pairs.ta, pairs.codes, pairs.weights, block, pairs.count, grad);
}

torch::Tensor affinity_bce_dense(const torch::Tensor& affinity, const torch::Tensor& grid_labels,
                                 const torch::Tensor& affinity_ntm, AffinityIgnore ignore) {
  TORCH_CHECK(affinity.dim() == 3 && affinity.size(1) == affinity.size(2), "affinity_bce_dense: A must be B×N×N");
  TORCH_CHECK(grid_labels.dim() == 2 && grid_labels.size(0) == affinity.size(0) && grid_labels.size(1) == affinity.size(1),
              "affinity_bce_dense: grid labels must be B×N");
  if (!affinity.device().is_cpu() || affinity.scalar_type() != torch::kFloat32)
    return affinity_bce_dense_ops(affinity, grid_labels, affinity_ntm, ignore);
  const PairInputs pairs(grid_labels, affinity_ntm, ignore);
  const bool grad = torch::GradMode::is_enabled() && (affinity.requires_grad() || pairs.ta.requires_grad());
  return DenseAffinityBce::apply(affinity.contiguous(), pairs.ta, pairs.codes, pairs.weights, pairs.count, grad);
}

}  // namespace jcas
