#include "pipeline/method/affinity_loss.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

namespace jcas {

namespace F = torch::nn::functional;

AffinityIgnore parse_affinity_ignore(const std::string& name) {
  if (name == "exclude") return AffinityIgnore::exclude;
  if (name == "as_class") return AffinityIgnore::as_class;
  throw std::invalid_argument("affinity_ignore must be 'exclude' or 'as_class', got '" + name + "'");
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

torch::Tensor affinity_matrix(const torch::Tensor& fhat) {
  return torch::bmm(fhat, fhat.transpose(1, 2)).clamp(1e-10, 1.0);
}

torch::Tensor affinity_bce_dense(const torch::Tensor& affinity, const torch::Tensor& grid_labels,
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

int64_t auto_block_rows(int64_t n) {
  return std::clamp<int64_t>((int64_t{1} << 21) / std::max<int64_t>(n, 1), 16, std::max<int64_t>(n, 1));
}

// One row block of the BCE. `a` holds A = F̂_r F̂ᵀ (rows × n) on entry. Accumulates the loss; with
// `grad_scale` != 0 it also overwrites `a` with dL/dA and accumulates dL/dT_A[0][1], dL/dT_A[1][1].
struct BlockResult {
  double loss = 0, g01 = 0, g11 = 0;
};

BlockResult bce_block(float* a, int64_t rows, int64_t n, const int64_t* code_r, const bool* valid_r,
                      const int64_t* code, const bool* valid, float t01, float t11, double grad_scale) {
  const bool backward = grad_scale != 0;
  const float dt = t11 - t01;
  std::vector<double> loss(rows, 0), g01(rows, 0), g11(rows, 0);
  at::parallel_for(0, rows, 8, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float* row = a + r * n;
      const int64_t ci = code_r[r];
      if (!valid_r[r]) {  // the whole row is excluded
        if (backward) std::fill(row, row + n, 0.f);
        continue;
      }
      double l = 0, s01 = 0, s11 = 0;
      for (int64_t j = 0; j < n; ++j) {
        const float raw = row[j];
        const bool inside = raw >= 1e-10f && raw <= 1.f;  // clamp passes the gradient only here
        const float ac = std::min(std::max(raw, 1e-10f), 1.f);
        const float ap = (1 - ac) * t01 + ac * t11;
        const bool y = code[j] == ci;
        if (!valid[j]) {
          if (backward) row[j] = 0;
          continue;
        }
        if (!backward) {
          l -= std::max(std::log(y ? ap : 1 - ap), -100.f);
        } else {
          // torch's BCE backward: (x − y) / max(x(1 − x), 1e-12)
          const double gp = grad_scale * (ap - (y ? 1.f : 0.f)) / std::max(ap * (1 - ap), 1e-12f);
          s01 += gp * (1 - ac);
          s11 += gp * ac;
          row[j] = inside ? static_cast<float>(gp * dt) : 0.f;
        }
      }
      loss[r] = l;
      g01[r] = s01;
      g11[r] = s11;
    }
  });
  BlockResult out;
  for (int64_t r = 0; r < rows; ++r) {
    out.loss += loss[r];
    out.g01 += g01[r];
    out.g11 += g11[r];
  }
  return out;
}

class TiledAffinityBce : public torch::autograd::Function<TiledAffinityBce> {
 public:
  // fhat B×N×d float32 contiguous; ta = [T_A[0][1], T_A[1][1]]; codes B×N int64; valid B×N bool.
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor fhat, torch::Tensor ta,
                               torch::Tensor codes, torch::Tensor valid, int64_t block, double count) {
    ctx->save_for_backward({fhat, ta, codes, valid});
    ctx->saved_data["block"] = block;
    ctx->saved_data["count"] = count;
    if (count == 0) return torch::zeros({}, fhat.options());
    torch::NoGradGuard guard;
    const auto B = fhat.size(0), n = fhat.size(1);
    const float t01 = ta[0].item<float>(), t11 = ta[1].item<float>();
    auto buf = torch::empty({std::min(block, n), n}, fhat.options());
    double total = 0;
    for (int64_t b = 0; b < B; ++b) {
      auto fb = fhat[b];
      const int64_t* code = codes[b].data_ptr<int64_t>();
      const bool* val = valid[b].data_ptr<bool>();
      for (int64_t r0 = 0; r0 < n; r0 += block) {
        const int64_t rows = std::min(block, n - r0);
        auto a = buf.narrow(0, 0, rows);
        at::mm_out(a, fb.narrow(0, r0, rows), fb.t());
        total += bce_block(a.data_ptr<float>(), rows, n, code + r0, val + r0, code, val, t01, t11, 0).loss;
      }
    }
    return torch::full({}, total / count, fhat.options());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    auto saved = ctx->get_saved_variables();
    auto fhat = saved[0], ta = saved[1], codes = saved[2], valid = saved[3];
    const int64_t block = ctx->saved_data["block"].toInt();
    const double count = ctx->saved_data["count"].toDouble();
    auto dfhat = torch::zeros_like(fhat);
    auto dta = torch::zeros({2}, ta.options());
    if (count == 0) return {dfhat, dta, {}, {}, {}, {}};
    torch::NoGradGuard guard;
    const double scale = grad_out[0].item<double>() / count;
    const auto B = fhat.size(0), n = fhat.size(1);
    const float t01 = ta[0].item<float>(), t11 = ta[1].item<float>();
    auto buf = torch::empty({std::min(block, n), n}, fhat.options());
    double g01 = 0, g11 = 0;
    for (int64_t b = 0; b < B; ++b) {
      auto fb = fhat[b];
      auto db = dfhat[b];
      const int64_t* code = codes[b].data_ptr<int64_t>();
      const bool* val = valid[b].data_ptr<bool>();
      for (int64_t r0 = 0; r0 < n; r0 += block) {
        const int64_t rows = std::min(block, n - r0);
        auto a = buf.narrow(0, 0, rows);
        auto fr = fb.narrow(0, r0, rows);
        at::mm_out(a, fr, fb.t());
        auto res = bce_block(a.data_ptr<float>(), rows, n, code + r0, val + r0, code, val, t01, t11, scale);
        g01 += res.g01;
        g11 += res.g11;
        // A = F̂F̂ᵀ: dF̂_r += G F̂ and dF̂ += Gᵀ F̂_r.
        auto dr = db.narrow(0, r0, rows);
        dr.addmm_(a, fb);
        db.addmm_(a.t(), fr);
      }
    }
    dta[0] = g01;
    dta[1] = g11;
    return {dfhat, dta, {}, {}, {}, {}};
  }
};

}  // namespace

torch::Tensor affinity_bce_tiled(const torch::Tensor& fhat, const torch::Tensor& grid_labels,
                                 const torch::Tensor& affinity_ntm, AffinityIgnore ignore, int64_t block_rows) {
  TORCH_CHECK(fhat.dim() == 3 && fhat.scalar_type() == torch::kFloat32, "affinity_bce_tiled: F̂ must be B×N×d float32");
  TORCH_CHECK(grid_labels.dim() == 2 && grid_labels.size(0) == fhat.size(0) && grid_labels.size(1) == fhat.size(1),
              "affinity_bce_tiled: grid labels must be B×N");
  const auto n = fhat.size(1);
  auto codes = grid_labels.to(torch::kLong).contiguous();
  auto valid = ignore == AffinityIgnore::exclude ? (codes != kIgnoreLabel) : torch::ones_like(codes, torch::kBool);
  valid = valid.contiguous();
  const auto per_image = valid.sum(1).to(torch::kFloat64);
  const double count = (per_image * per_image).sum().item<double>();
  // Without correction A' = (1 − A)·0 + A·1 = A exactly.
  auto ta = affinity_ntm.defined() ? torch::stack({affinity_ntm[0][1], affinity_ntm[1][1]}).to(torch::kFloat32)
                                   : torch::tensor({0.f, 1.f});
  const int64_t block = block_rows > 0 ? block_rows : auto_block_rows(n);
  return TiledAffinityBce::apply(fhat.contiguous(), ta, codes, valid, block, count);
}

}  // namespace jcas
