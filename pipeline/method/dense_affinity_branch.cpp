#include "pipeline/method/dense_affinity_branch.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <vector>

#include "pipeline/method/pair_bce.h"

namespace jcas {

namespace {

// A 256² float tile (256 KiB) and two scratch tiles fit in L2 (fastest at N = 1024, of 128, 256, 512
// and 1024); from N > 2048 on, 1024² tiles: the per-tile partial sums grow as N²·d / side (at N = 9216
// with 256² tiles they took 1.4 GiB and most of the backward's time faulting them in).
int64_t default_tile(int64_t n) { return n <= 2048 ? 256 : 1024; }

// A's tiles (I, J) with J >= I of one image, packed one after another (each rows × cols, contiguous).
struct UpperTiles {
  struct Tile {
    int64_t r0, c0, rows, cols, offset;
    bool diagonal() const { return r0 == c0; }
  };
  std::vector<Tile> tiles;
  int64_t floats = 0;  // per image
  UpperTiles(int64_t n, int64_t side) {
    for (int64_t r0 = 0; r0 < n; r0 += side)
      for (int64_t c0 = r0; c0 < n; c0 += side) {
        tiles.push_back({r0, c0, std::min(side, n - r0), std::min(side, n - c0), floats});
        floats += tiles.back().rows * tiles.back().cols;
      }
  }
  int64_t count() const { return static_cast<int64_t>(tiles.size()); }
};

torch::Tensor tile_of(const torch::Tensor& packed_image, const UpperTiles::Tile& t) {
  return packed_image.narrow(0, t.offset, t.rows * t.cols).view({t.rows, t.cols});
}

torch::Tensor scratch_tile(const torch::Tensor& scratch, const UpperTiles::Tile& t) {
  return scratch.narrow(0, 0, t.rows * t.cols).view({t.rows, t.cols});
}

// out = a·b into a view (at::mm_out takes its output by lvalue reference).
void mm_into(torch::Tensor out, const torch::Tensor& a, const torch::Tensor& b) { at::mm_out(out, a, b); }

// out = factor·g + [raw passes the clamp of A = clamp(raw, 1e-10, 1)]·s (s may be null: 0, or `out`). A
// separate function so that the loop vectorises (inside at::parallel_for's lambda it did not).
__attribute__((target_clones("avx512f", "avx2", "default"))) void masked_sum(float* out, const float* g, float factor,
                                                                               const float* s, const float* raw,
                                                                               int64_t cells) {
  if (s == nullptr) {
#pragma omp simd
    for (int64_t e = 0; e < cells; ++e) out[e] = factor * g[e];
    return;
  }
#pragma omp simd
  for (int64_t e = 0; e < cells; ++e) out[e] = factor * g[e] + (raw[e] >= 1e-10f && raw[e] <= 1.f ? s[e] : 0.f);
}

// Per-tile partial results: the rows of the tile's row block I and, for an off-diagonal tile, of its
// column block J (the mirrored tile), added into `out` (B×N×c) image by image and tile by tile in
// order, so the sums do not depend on the threads.
struct Partials {
  torch::Tensor of_rows, of_cols;  // B×T×side×c
  Partials(int64_t B, int64_t tiles, int64_t side, int64_t c, const torch::TensorOptions& options)
      : of_rows(torch::empty({B, tiles, side, c}, options)), of_cols(torch::empty({B, tiles, side, c}, options)) {}
  torch::Tensor rows(int64_t b, int64_t t, int64_t n) { return of_rows[b][t].narrow(0, 0, n); }
  torch::Tensor cols(int64_t b, int64_t t, int64_t n) { return of_cols[b][t].narrow(0, 0, n); }
  torch::Tensor sum(const UpperTiles& up, int64_t n) const {
    const int64_t B = of_rows.size(0), side = of_rows.size(2), c = of_rows.size(3), T = up.count();
    auto out = torch::zeros({B, n, c}, of_rows.options());
    float* o = out.data_ptr<float>();
    const float* pr = of_rows.data_ptr<float>();
    const float* pc = of_cols.data_ptr<float>();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t ti = 0; ti < T; ++ti) {
        const auto& t = up.tiles[ti];
        const int64_t slot = (b * T + ti) * side * c;
        float* rows = o + (b * n + t.r0) * c;
        for (int64_t e = 0; e < t.rows * c; ++e) rows[e] += pr[slot + e];
        if (t.diagonal()) continue;
        float* cols = o + (b * n + t.c0) * c;
        for (int64_t e = 0; e < t.cols * c; ++e) cols[e] += pc[slot + e];
      }
    return out;
  }
};

// A = clamp(F̂F̂ᵀ): the loss is a scalar and symmetric in the pairs, so only A's tiles on and above the
// diagonal are formed (an off-diagonal tile counts twice); the lower ones are their transposes. The
// forward keeps each tile's raw product and its BCE gradient (dL_sum/dA, zero where the clamp is active)
// for the backward, where dL/dA = g·dBCE/dA + U·Qᵀ (U = dL/d(A·Q)) and dF̂ = (dL/dA + (dL/dA)ᵀ)·F̂.
class DenseAffinityBranchFunction : public torch::autograd::Function<DenseAffinityBranchFunction> {
 public:
  // fhat B×N×d, q B×N×m (m may be 0), ta = [T_A[0][1], T_A[1][1]], codes and weights B×N (PairInputs).
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, torch::Tensor fhat,
                                                torch::Tensor q, torch::Tensor ta, torch::Tensor codes,
                                                torch::Tensor weights, int64_t side, double count, bool grad) {
    RECORD_FUNCTION("jcas::dense_affinity_branch", std::vector<c10::IValue>());  // named in autograd profiles
    const int64_t B = fhat.size(0), n = fhat.size(1), m = q.size(2);
    const UpperTiles up(n, side);
    const int64_t T = up.count();
    auto raw = torch::empty({B, up.floats}, fhat.options());
    auto dbce = grad ? torch::empty({B, up.floats}, fhat.options()) : torch::Tensor();
    Partials products(B, T, side, m, fhat.options());
    std::vector<double> loss(B * T, 0), g01(B * T, 0), g11(B * T, 0);
    const float t01 = ta[0].item<float>(), t11 = ta[1].item<float>();
    const int32_t* codes_of = codes.data_ptr<int32_t>();
    const float* weights_of = weights.data_ptr<float>();
    at::parallel_for(0, B * T, 1, [&](int64_t first, int64_t last) {
      torch::NoGradGuard no_grad;  // grad mode is per thread: the worker's does not follow the caller's
      auto scratch = torch::empty({side * side}, fhat.options());
      for (int64_t item = first; item < last; ++item) {
        const int64_t b = item / T, ti = item % T;
        const auto& t = up.tiles[ti];
        const auto fb = fhat[b], qb = q[b];
        auto a = tile_of(raw[b], t);
        at::mm_out(a, fb.narrow(0, t.r0, t.rows), fb.narrow(0, t.c0, t.cols).t());
        if (count > 0) {
          auto work = grad ? tile_of(dbce[b], t) : scratch_tile(scratch, t);
          work.copy_(a);
          const int32_t* code = codes_of + b * n;
          const float* w = weights_of + b * n;
          loss[item] = detail::bce_block(work.data_ptr<float>(), t.rows, t.cols, code + t.r0, w + t.r0, code + t.c0,
                                         w + t.c0, t01, t11, g01[item], g11[item]);
        } else if (grad) {
          tile_of(dbce[b], t).zero_();
        }
        if (m == 0) continue;
        auto c = scratch_tile(scratch, t);
        at::clamp_out(c, a, 1e-10, 1.0);
        mm_into(products.rows(b, ti, t.rows), c, qb.narrow(0, t.c0, t.cols));
        if (!t.diagonal()) mm_into(products.cols(b, ti, t.cols), c.t(), qb.narrow(0, t.r0, t.rows));
      }
    });
    double total = 0, s01 = 0, s11 = 0;
    for (int64_t item = 0; item < B * T; ++item) {
      const double mult = up.tiles[item % T].diagonal() ? 1.0 : 2.0;
      total += mult * loss[item];
      s01 += mult * g01[item];
      s11 += mult * g11[item];
    }
    const double scale = count > 0 ? 1.0 / count : 0.0;
    if (grad) {
      ctx->save_for_backward({fhat, q});
      ctx->saved_data["raw"] = raw;
      ctx->saved_data["dbce"] = dbce;
      ctx->saved_data["dta"] = torch::tensor({static_cast<float>(s01 * scale), static_cast<float>(s11 * scale)});
      ctx->saved_data["side"] = side;
      ctx->saved_data["scale"] = scale;
    }
    auto aq = products.sum(up, n);
    return {torch::full({}, total * scale, fhat.options()), aq};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const auto fhat = saved[0], q = saved[1];
    const auto raw = ctx->saved_data["raw"].toTensor(), dbce = ctx->saved_data["dbce"].toTensor();
    const int64_t side = ctx->saved_data["side"].toInt();
    const int64_t B = fhat.size(0), n = fhat.size(1), d = fhat.size(2), m = q.size(2);
    const float g = grad_out[0].defined() ? grad_out[0].item<float>() : 0.f;
    const float bce_scale = static_cast<float>(g * ctx->saved_data["scale"].toDouble());
    const bool products = m > 0 && grad_out[1].defined();
    // For an off-diagonal tile, dL/dA_IJ + (dL/dA_JI)ᵀ takes U_I·Q_Jᵀ + Q_I·U_Jᵀ = [U, Q]_I·[Q, U]_Jᵀ.
    torch::Tensor u, uq, qu;
    if (products) {
      u = grad_out[1].contiguous();
      uq = torch::cat({u, q}, 2);
      qu = torch::cat({q, u}, 2);
    }
    const UpperTiles up(n, side);
    const int64_t T = up.count();
    Partials dfhat(B, T, side, d, fhat.options());
    Partials dq(B, T, side, products ? m : 0, fhat.options());
    at::parallel_for(0, B * T, 1, [&](int64_t first, int64_t last) {
      torch::NoGradGuard no_grad;
      auto scratch_s = torch::empty({side * side}, fhat.options()), scratch_g = torch::empty_like(scratch_s);
      for (int64_t item = first; item < last; ++item) {
        const int64_t b = item / T, ti = item % T;
        const auto& t = up.tiles[ti];
        const auto fb = fhat[b];
        const auto fr = fb.narrow(0, t.r0, t.rows), fc = fb.narrow(0, t.c0, t.cols);
        const auto a = tile_of(raw[b], t);
        const float* ap = a.data_ptr<float>();
        const float* gb = tile_of(dbce[b], t).data_ptr<float>();
        auto s = scratch_tile(scratch_s, t);  // becomes S_IJ = dL/dA_IJ + (dL/dA_JI)ᵀ
        float* sp = s.data_ptr<float>();
        const int64_t cells = t.rows * t.cols;
        if (t.diagonal()) {
          // Each entry with its own clamp (the product's rounding may differ between A_ij and A_ji):
          // G = dL/dA of the tile, then S = G + Gᵀ in cache.
          if (products) at::mm_out(s, u[b].narrow(0, t.r0, t.rows), q[b].narrow(0, t.c0, t.cols).t());
          float* gp = scratch_tile(scratch_g, t).data_ptr<float>();
          masked_sum(gp, gb, bce_scale, products ? sp : nullptr, ap, cells);
          for (int64_t i = 0; i < t.rows; ++i)
            for (int64_t j = 0; j < t.cols; ++j) sp[i * t.cols + j] = gp[i * t.cols + j] + gp[j * t.cols + i];
        } else {
          if (products) at::mm_out(s, uq[b].narrow(0, t.r0, t.rows), qu[b].narrow(0, t.c0, t.cols).t());
          masked_sum(sp, gb, 2 * bce_scale, products ? sp : nullptr, ap, cells);
        }
        mm_into(dfhat.rows(b, ti, t.rows), s, fc);
        if (!t.diagonal()) mm_into(dfhat.cols(b, ti, t.cols), s.t(), fr);
        if (!products) continue;
        // dQ = Aᵀ·U: the tile gives dQ_J += A_IJᵀ·U_I and, mirrored, dQ_I += A_IJ·U_J.
        auto c = scratch_tile(scratch_g, t);
        at::clamp_out(c, a, 1e-10, 1.0);
        const auto ub = u[b];
        if (t.diagonal()) {
          mm_into(dq.rows(b, ti, t.rows), c.t(), ub.narrow(0, t.r0, t.rows));
        } else {
          mm_into(dq.cols(b, ti, t.cols), c.t(), ub.narrow(0, t.r0, t.rows));
          mm_into(dq.rows(b, ti, t.rows), c, ub.narrow(0, t.c0, t.cols));
        }
      }
    });
    auto grad_fhat = dfhat.sum(up, n);
    torch::Tensor grad_q = products ? dq.sum(up, n) : torch::zeros_like(q);
    auto grad_ta = ctx->saved_data["dta"].toTensor() * g;
    return {grad_fhat, grad_q, grad_ta, {}, {}, {}, {}, {}};
  }
};

}  // namespace

AffinityBranch dense_affinity_branch(const torch::Tensor& fhat, const torch::Tensor& q, const torch::Tensor& grid_labels,
                                     const torch::Tensor& affinity_ntm, AffinityIgnore ignore, int64_t tile) {
  TORCH_CHECK(fhat.dim() == 3 && fhat.scalar_type() == torch::kFloat32 && fhat.device().is_cpu(),
              "dense_affinity_branch: F̂ must be B×N×d float32 on the CPU");
  TORCH_CHECK(grid_labels.dim() == 2 && grid_labels.size(0) == fhat.size(0) && grid_labels.size(1) == fhat.size(1),
              "dense_affinity_branch: grid labels must be B×N");
  const bool with_q = q.defined();
  TORCH_CHECK(!with_q || (q.dim() == 3 && q.size(0) == fhat.size(0) && q.size(1) == fhat.size(1) &&
                          q.scalar_type() == torch::kFloat32),
              "dense_affinity_branch: Q must be B×N×m float32");
  const detail::PairInputs pairs(grid_labels, affinity_ntm, ignore);
  auto operand = with_q ? q.contiguous() : torch::empty({fhat.size(0), fhat.size(1), 0}, fhat.options());
  const bool grad = torch::GradMode::is_enabled() &&
                    (fhat.requires_grad() || operand.requires_grad() || pairs.ta.requires_grad());
  const int64_t side = tile > 0 ? tile : default_tile(fhat.size(1));
  auto out = DenseAffinityBranchFunction::apply(fhat.contiguous(), operand, pairs.ta, pairs.codes, pairs.weights, side,
                                                pairs.count, grad);
  return {out[0], with_q ? out[1] : torch::Tensor()};
}

}  // namespace jcas
