#include "pipeline/method/class_loss.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "pipeline/method/affinity_loss.h"
#include "pipeline/method/log_product.h"

namespace jcas {

namespace F = torch::nn::functional;

torch::Tensor resize_bilinear(const torch::Tensor& x, int64_t height, int64_t width) {
  if (x.size(2) == height && x.size(3) == width) return x;  // align_corners=true is the identity here
  return F::interpolate(x, F::InterpolateFuncOptions()
                               .size(std::vector<int64_t>{height, width})
                               .mode(torch::kBilinear)
                               .align_corners(true));
}

torch::Tensor corrected_nll_ops(const torch::Tensor& logits, const torch::Tensor& labels, const torch::Tensor& class_ntm) {
  TORCH_CHECK(logits.dim() == 4 && labels.dim() == 3, "corrected_nll: expected B×K×H×W logits and B×H×W labels");
  auto p = torch::softmax(logits, 1);
  if (class_ntm.defined()) p = torch::einsum("bkhw,kj->bjhw", {p, class_ntm});
  auto target = labels.to(torch::kLong);
  auto log_p = torch::log(p.clamp(1e-10, 1.0)).contiguous();  // nll_loss2d needs contiguous input
  if (!(target != kIgnoreLabel).any().item<bool>()) return log_p.sum() * 0;
  return F::nll_loss(log_p, target, F::NLLLossFuncOptions().ignore_index(kIgnoreLabel));
}

namespace {

// The CPU form of corrected_nll: LibTorch's (vectorised) softmax, then one pass per pixel. Only the
// labelled class of p·T is needed: q = Σ_k p_k T[k][y], loss = −log(clamp(q, 1e-10, 1)); with
// c = −1 / q (0 where the clamp is active, as autograd's clamp), dloss/dx_j = c·p_j·(T[j][y] − q) and
// dloss/dT[k][y] = c·p_k. The op chain (einsum, clamp, log, NLL, and the backward of each and of the
// softmax) cost several times a CE step's loss. The loss is a scalar, so its gradient is computed
// with it and backward only scales it. Pixels are summed in fixed blocks, so the result does not
// depend on the thread count. With `second` logits (the class branch's DAR term) the pass sums the
// loss of both maps against the same labels.
class FusedCorrectedNll : public torch::autograd::Function<FusedCorrectedNll> {
 public:
  // logits (and second, or an empty tensor) B×K×H×W float32, ntm K×K float32 (empty: no correction),
  // labels B×H×W int64 contiguous.
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor logits, torch::Tensor second,
                               torch::Tensor ntm, torch::Tensor labels, bool grad) {
    RECORD_FUNCTION("jcas::corrected_nll", std::vector<c10::IValue>());  // named in autograd profiles
    const int64_t B = logits.size(0), K = logits.size(1), HW = logits.size(2) * logits.size(3);
    const int64_t G = second.numel() > 0 ? 2 : 1;
    std::vector<torch::Tensor> probabilities = {torch::softmax(logits, 1).contiguous()};
    if (G == 2) probabilities.push_back(torch::softmax(second, 1).contiguous());
    const float* p_of[2] = {probabilities[0].data_ptr<float>(), G == 2 ? probabilities[1].data_ptr<float>() : nullptr};
    const int64_t* y = labels.data_ptr<int64_t>();
    const bool corrected = ntm.numel() > 0;
    const auto t = corrected ? ntm.contiguous() : torch::eye(K, logits.options());
    const float* T = t.data_ptr<float>();
    std::vector<torch::Tensor> dx;
    float* gx_of[2] = {nullptr, nullptr};
    for (int64_t g = 0; grad && g < G; ++g) gx_of[g] = dx.emplace_back(torch::zeros_like(probabilities[g])).data_ptr<float>();
    constexpr int64_t kBlock = 4096;  // pixels of one image per block
    const int64_t per_image = (HW + kBlock - 1) / kBlock, blocks = B * per_image;
    std::vector<double> loss(blocks, 0);
    std::vector<int64_t> count(blocks, 0), bad_label(blocks, -1);
    std::vector<double> dt(grad && corrected ? blocks * K * K : 0, 0);
    at::parallel_for(0, blocks, 1, [&](int64_t first, int64_t last) {
      for (int64_t blk = first; blk < last; ++blk) {
        const int64_t b = blk / per_image, s0 = (blk % per_image) * kBlock, s1 = std::min(HW, s0 + kBlock);
        const int64_t* yb = y + b * HW;
        double* dtb = dt.empty() ? nullptr : dt.data() + blk * K * K;
        LogSum log_q;  // Σ log q as a running product: one log per block instead of one per pixel
        int64_t n = 0, factors = 0;
        for (int64_t s = s0; s < s1; ++s) {
          const int64_t label = yb[s];
          if (label == kIgnoreLabel) continue;
          if (label < 0 || label >= K) {
            bad_label[blk] = label;
            break;
          }
          ++n;
          for (int64_t g = 0; g < G; ++g) {
            const float* pb = p_of[g] + b * K * HW;
            float q = 0;
            for (int64_t k = 0; k < K; ++k) q += pb[k * HW + s] * T[k * K + label];
            log_q.mantissa *= std::min(std::max(q, 1e-10f), 1.f);
            if ((++factors & 3) == 0) log_q.renormalise();
            if (!grad || q < 1e-10f || q > 1.f) continue;
            const float c = -1.f / q;
            float* gb = gx_of[g] + b * K * HW;
            for (int64_t k = 0; k < K; ++k) gb[k * HW + s] = c * pb[k * HW + s] * (T[k * K + label] - q);
            if (dtb)
              for (int64_t k = 0; k < K; ++k) dtb[k * K + label] += c * pb[k * HW + s];
          }
        }
        loss[blk] = -log_q.value();
        count[blk] = n;
      }
    });
    for (int64_t label : bad_label)
      if (label != -1)
        throw std::invalid_argument("corrected_nll: label " + std::to_string(label) + " is outside 0.." +
                                    std::to_string(K - 1) + " and is not the ignore label 255");
    double total = 0;
    int64_t n = 0;
    for (int64_t blk = 0; blk < blocks; ++blk) total += loss[blk], n += count[blk];
    const double scale = n > 0 ? 1.0 / static_cast<double>(n) : 0.0;
    if (grad) {
      ctx->saved_data["dx"] = dx[0].mul_(scale);
      ctx->saved_data["dsecond"] = G == 2 ? dx[1].mul_(scale) : torch::zeros({0});
      if (corrected) {
        std::vector<double> g(K * K, 0);
        for (int64_t blk = 0; blk < blocks; ++blk)
          for (int64_t e = 0; e < K * K; ++e) g[e] += dt[blk * K * K + e] * scale;
        ctx->saved_data["dt"] = torch::tensor(g, torch::kFloat64).view({K, K}).to(torch::kFloat32);
      }
    }
    return torch::full({}, total * scale, logits.options());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const auto& g = grad_out[0];
    // An uncorrected call's empty NTM gets the zero gradient of its shape.
    auto dt = ctx->saved_data.count("dt") ? ctx->saved_data["dt"].toTensor() * g : torch::zeros({0});
    auto dsecond = ctx->saved_data["dsecond"].toTensor();
    return {ctx->saved_data["dx"].toTensor() * g, dsecond.numel() > 0 ? dsecond * g : dsecond, dt, {}, {}};
  }
};

bool fused_on(const torch::Tensor& logits, const torch::Tensor& class_ntm) {
  return logits.device().is_cpu() && logits.scalar_type() == torch::kFloat32 &&
         (!class_ntm.defined() || class_ntm.scalar_type() == torch::kFloat32);
}

// `second` may be undefined.
torch::Tensor fused_corrected_nll(const torch::Tensor& logits, const torch::Tensor& second, const torch::Tensor& labels,
                                  const torch::Tensor& class_ntm) {
  const bool grad = torch::GradMode::is_enabled() &&
                    (logits.requires_grad() || (second.defined() && second.requires_grad()) ||
                     (class_ntm.defined() && class_ntm.requires_grad()));
  return FusedCorrectedNll::apply(logits, second.defined() ? second : torch::empty({0}),
                                  class_ntm.defined() ? class_ntm : torch::empty({0}), labels.to(torch::kLong).contiguous(),
                                  grad);
}

}  // namespace

torch::Tensor corrected_nll(const torch::Tensor& logits, const torch::Tensor& labels, const torch::Tensor& class_ntm) {
  TORCH_CHECK(logits.dim() == 4 && labels.dim() == 3, "corrected_nll: expected B×K×H×W logits and B×H×W labels");
  if (!fused_on(logits, class_ntm)) return corrected_nll_ops(logits, labels, class_ntm);
  return fused_corrected_nll(logits, torch::Tensor(), labels, class_ntm);
}

torch::Tensor class_branch_loss(const torch::Tensor& grid_logits, const torch::Tensor& dar_logits,
                                const torch::Tensor& labels, const torch::Tensor& class_ntm) {
  const auto H = labels.size(1), W = labels.size(2);
  if (!dar_logits.defined()) return corrected_nll(resize_bilinear(grid_logits, H, W), labels, class_ntm);
  if (!fused_on(grid_logits, class_ntm))
    return corrected_nll_ops(resize_bilinear(dar_logits, H, W), labels, class_ntm) +
           corrected_nll_ops(resize_bilinear(grid_logits, H, W), labels, class_ntm);
  // One pass for both terms (one resize of both maps stacked was slower than two: LibTorch's
  // bilinear backward took 3x as long for 8 channels as for 4).
  return fused_corrected_nll(resize_bilinear(dar_logits, H, W), resize_bilinear(grid_logits, H, W), labels, class_ntm);
}

}  // namespace jcas
