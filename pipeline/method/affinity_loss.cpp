#include "pipeline/method/affinity_loss.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "pipeline/method/batched_matmul.h"
#include "pipeline/method/pair_bce.h"

namespace jcas {

namespace F = torch::nn::functional;

const std::vector<std::pair<AffinityIgnore, const char*>>& EnumNames<AffinityIgnore>::table() {
  static const std::vector<std::pair<AffinityIgnore, const char*>> t = {{AffinityIgnore::exclude, "exclude"},
                                                                        {AffinityIgnore::as_class, "as_class"}};
  return t;
}

namespace {

// y = relu(x) / (‖relu(x)‖ + 1e-9) of one row; returns ‖relu(x)‖. Separate functions so that the SIMD
// loops vectorise (inside at::parallel_for's lambda they did not: std::max became a mispredicted branch).
__attribute__((target_clones("avx512f", "avx2", "default"))) float relu_normalise_row(const float* __restrict x,
                                                                                        float* __restrict y, int64_t d) {
  float squares = 0;
#pragma omp simd reduction(+ : squares)
  for (int64_t j = 0; j < d; ++j) squares += std::max(x[j], 0.f) * std::max(x[j], 0.f);
  const float s = std::sqrt(squares), inv = 1.f / (s + 1e-9f);
#pragma omp simd
  for (int64_t j = 0; j < d; ++j) y[j] = std::max(x[j], 0.f) * inv;
  return s;
}

// dL/dx of one row with norm s > 0 (see NormalisedReluRows).
__attribute__((target_clones("avx512f", "avx2", "default"))) void relu_normalise_row_backward(
    const float* __restrict x, const float* __restrict y, const float* __restrict dy, float s, float* __restrict dx,
    int64_t d) {
  float dot = 0;
#pragma omp simd reduction(+ : dot)
  for (int64_t j = 0; j < d; ++j) dot += dy[j] * y[j];
  const float inv = 1.f / (s + 1e-9f), along = dot / s;
#pragma omp simd
  for (int64_t j = 0; j < d; ++j) dx[j] = x[j] > 0 ? dy[j] * inv - along * y[j] : 0.f;
}

// y = relu(x) / (‖relu(x)‖₂ + 1e-9) per row of B×N×d (CPU, float32), forward and backward in one pass
// per row each: the op chain (permuted copy, relu, norm, add, broadcast division and their backwards)
// cost several times the interpolation before it. For a row with norm s > 0,
// dL/dx_j = [x_j > 0]·(dy_j/(s + 1e-9) − (dy·y)·y_j/s); a row with s = 0 has x <= 0, so dL/dx = 0 (as
// relu's and norm's backwards give).
class NormalisedReluRows : public torch::autograd::Function<NormalisedReluRows> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x) {
    const int64_t rows = x.size(0) * x.size(1), d = x.size(2);
    auto y = torch::empty_like(x);
    auto norms = torch::empty({rows}, x.options());
    const float* xp = x.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    float* np = norms.data_ptr<float>();
    at::parallel_for(0, rows, 64, [&](int64_t first, int64_t last) {
      for (int64_t r = first; r < last; ++r) {
        const float s = relu_normalise_row(xp + r * d, yp + r * d, d);
        np[r] = s;
      }
    });
    ctx->save_for_backward({x, y, norms});
    return y;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &y = saved[1], &norms = saved[2];
    const auto dy = grad_out[0].contiguous();
    const int64_t rows = x.size(0) * x.size(1), d = x.size(2);
    auto dx = torch::empty_like(x);
    const float *xp = x.data_ptr<float>(), *yp = y.data_ptr<float>(), *np = norms.data_ptr<float>();
    const float* gp = dy.data_ptr<float>();
    float* out = dx.data_ptr<float>();
    at::parallel_for(0, rows, 64, [&](int64_t first, int64_t last) {
      for (int64_t r = first; r < last; ++r) {
        const int64_t o = r * d;
        const float s = np[r];
        if (s == 0) {
          std::fill(out + o, out + o + d, 0.f);
          continue;
        }
        relu_normalise_row_backward(xp + o, yp + o, gp + o, s, out + o, d);
      }
    });
    return {dx};
  }
};

}  // namespace

torch::Tensor normalized_embeddings(const torch::Tensor& feat, int64_t grid_h, int64_t grid_w) {
  TORCH_CHECK(feat.dim() == 4, "normalized_embeddings: expected B×d×h×w features");
  // Channels-last, so that the rows below are a view of the interpolation's output (a permuted copy of
  // the grid-size output cost more than the interpolation itself).
  auto x = F::interpolate(feat.contiguous(at::MemoryFormat::ChannelsLast), F::InterpolateFuncOptions()
                                    .size(std::vector<int64_t>{grid_h, grid_w})
                                    .mode(torch::kBilinear)
                                    .align_corners(true));
  const auto B = feat.size(0), d = feat.size(1);
  auto rows = x.permute({0, 2, 3, 1}).reshape({B, grid_h * grid_w, d});
  if (rows.device().is_cpu() && rows.scalar_type() == torch::kFloat32)
    return NormalisedReluRows::apply(rows.contiguous());
  rows = torch::relu(rows);
  // The reference divides by (norm + 1e-9) rather than max(norm, eps): keep it for parity.
  return rows / (rows.norm(2, /*dim=*/2, /*keepdim=*/true) + 1e-9);
}

torch::Tensor grid_labels(const torch::Tensor& labels, int64_t grid_h, int64_t grid_w) {
  TORCH_CHECK(labels.dim() == 3, "grid_labels: expected B×H×W labels");
  // Label values (<= 255) are exact in float32; torch's nearest uses floor(dst · in/out) like the reference.
  auto l = F::interpolate(labels.unsqueeze(1).to(torch::kFloat32),
                          F::InterpolateFuncOptions().size(std::vector<int64_t>{grid_h, grid_w}).mode(torch::kNearest));
  return l.reshape({labels.size(0), grid_h * grid_w}).to(torch::kLong);
}

torch::Tensor affinity_matrix(const torch::Tensor& fhat) {
  return batched_matmul(fhat, fhat.transpose(1, 2)).clamp(1e-10, 1.0);
}

torch::Tensor affinity_bce_dense(const torch::Tensor& affinity, const torch::Tensor& grid_labels,
                                const torch::Tensor& affinity_ntm, AffinityIgnore ignore) {
  TORCH_CHECK(affinity.dim() == 3 && affinity.size(1) == affinity.size(2), "affinity_bce_dense: A must be B×N×N");
  TORCH_CHECK(grid_labels.dim() == 2 && grid_labels.size(0) == affinity.size(0) && grid_labels.size(1) == affinity.size(1),
              "affinity_bce_dense: grid labels must be B×N");
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

// log v for v in [2^-149, 2] in a form the compiler vectorises: the exponent from the bits, the log of
// the mantissa m in [√½, √2) by the series 2·atanh(t), t = (m − 1)/(m + 1), to t⁹ (truncation below
// 1e-9 for |t| <= 0.172: float rounding dominates). Subnormal v (the BCE passes likelihoods down to
// e^−100 ≈ 3.7e-44) are scaled by 2^64 first.
inline float vector_log(float v) {
  const bool subnormal = v < 1.17549435e-38f;
  v = subnormal ? v * 18446744073709551616.f : v;
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  int32_t exponent = static_cast<int32_t>(bits >> 23) - 127;
  bits = (bits & 0x007fffffu) | 0x3f800000u;
  float m;
  std::memcpy(&m, &bits, sizeof m);
  const bool high = m > 1.41421356f;
  m = high ? m * 0.5f : m;
  exponent = high ? exponent + 1 : exponent;
  const float t = (m - 1) / (m + 1), t2 = t * t;
  const float series = 2 * t * (1 + t2 * (1.f / 3 + t2 * (1.f / 5 + t2 * (1.f / 7 + t2 * (1.f / 9)))));
  return series + static_cast<float>(exponent) * 0.693147182f - (subnormal ? 44.3614196f : 0.f);  // 64 ln 2
}

// One row of a block: sums[0] += summed BCE, sums[1..2] += dL_sum/dT_A[0][1], dL_sum/dT_A[1][1]; `ar`
// becomes dL_sum/dA (always: a branch would stop the vectoriser). A SIMD loop (its partial sums per
// vector lane) compiled for AVX-512, AVX2 and the baseline, chosen at run time (the build targets the
// baseline x86-64).
__attribute__((target_clones("avx512f", "avx2", "default"))) void bce_row(float* __restrict ar, int64_t n, int32_t ci,
                                                                            const int32_t* __restrict code,
                                                                            const float* __restrict w, float t01,
                                                                            float t11, double sums[3]) {
  constexpr float kLogFloor = 3.7200760e-44f;  // exp(−100): torch's BCE clamps log at −100
  const float dt = t11 - t01;
  float logs = 0, floored = 0, s01 = 0, s11 = 0;
#pragma omp simd reduction(+ : logs, floored, s01, s11)
  for (int64_t j = 0; j < n; ++j) {
    const float raw = ar[j];
    const float ac = std::min(std::max(raw, 1e-10f), 1.f);
    const float ap = (1 - ac) * t01 + ac * t11;
    const float y = code[j] == ci ? 1.f : 0.f;
    const float wj = w[j];
    const float likelihood = y != 0 ? ap : 1 - ap;
    const float v = wj != 0 ? likelihood : 1.f;  // 1 (log 0) when the pair is excluded
    const bool floor = v < kLogFloor;
    floored += floor ? 1.f : 0.f;
    logs += vector_log(floor ? 1.f : v);
    // torch's BCE backward: (x − y) / max(x(1 − x), 1e-12); the clamp passes the gradient inside [1e-10, 1].
    const float gp = wj * (ap - y) / std::max(ap * (1 - ap), 1e-12f);
    s01 += gp * (1 - ac);
    s11 += gp * ac;
    ar[j] = (raw >= 1e-10f && raw <= 1.f) ? gp * dt : 0.f;
  }
  sums[0] += 100.0 * floored - logs;
  sums[1] += s01;
  sums[2] += s11;
}

}  // namespace

namespace detail {

double bce_block(float* a, int64_t rows, int64_t n, const int32_t* code_r, const float* w_r, const int32_t* code,
                 const float* w, float t01, float t11, double& g01, double& g11) {
  std::vector<double> sums(3 * rows, 0);
  at::parallel_for(0, rows, 4, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float* ar = a + r * n;
      if (w_r[r] == 0) {  // the whole row is excluded
        std::fill(ar, ar + n, 0.f);
        continue;
      }
      bce_row(ar, n, code_r[r], code, w, t01, t11, &sums[3 * r]);
    }
  });
  double total = 0;
  for (int64_t r = 0; r < rows; ++r) {
    total += sums[3 * r];
    g01 += sums[3 * r + 1];
    g11 += sums[3 * r + 2];
  }
  return total;
}

PairInputs::PairInputs(const torch::Tensor& grid_labels, const torch::Tensor& affinity_ntm, AffinityIgnore ignore) {
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

}  // namespace detail

namespace {

using detail::bce_block;
using detail::PairInputs;

// Square tiles of A: 1024² floats = 4 MiB.
int64_t auto_tile(int64_t n) { return std::min<int64_t>(std::max<int64_t>(n, 1), 1024); }

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
                                          t11, t01_grad, t11_grad);
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

}  // namespace jcas
