#include "pipeline/method/class_loss.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

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
// depend on the thread count. `groups` > 1 sums the loss of G logit maps (channels g·K to g·K + K − 1)
// against the same labels, so that the class branch's two terms take one resize and one pass.
class FusedCorrectedNll : public torch::autograd::Function<FusedCorrectedNll> {
 public:
  // logits B×(G·K)×H×W float32, ntm K×K float32 (empty: no correction), labels B×H×W int64 contiguous.
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor logits, torch::Tensor ntm,
                               torch::Tensor labels, int64_t groups, bool grad) {
    RECORD_FUNCTION("jcas::corrected_nll", std::vector<c10::IValue>());  // named in autograd profiles
    const int64_t B = logits.size(0), G = groups, K = logits.size(1) / G, HW = logits.size(2) * logits.size(3);
    const auto probabilities = torch::softmax(logits.reshape({B, G, K, HW}), 2).contiguous();
    const float* p = probabilities.data_ptr<float>();
    const int64_t* y = labels.data_ptr<int64_t>();
    const bool corrected = ntm.numel() > 0;
    const auto t = corrected ? ntm.contiguous() : torch::eye(K, logits.options());
    const float* T = t.data_ptr<float>();
    auto dx = grad ? torch::zeros_like(probabilities) : torch::Tensor();
    float* gx = grad ? dx.data_ptr<float>() : nullptr;
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
        double sum = 0;
        int64_t n = 0;
        for (int64_t s = s0; s < s1; ++s) {
          const int64_t label = yb[s];
          if (label == kIgnoreLabel) continue;
          if (label < 0 || label >= K) {
            bad_label[blk] = label;
            break;
          }
          ++n;
          for (int64_t g = 0; g < G; ++g) {
            const float* pb = p + (b * G + g) * K * HW;
            float q = 0;
            for (int64_t k = 0; k < K; ++k) q += pb[k * HW + s] * T[k * K + label];
            sum -= std::log(std::min(std::max(q, 1e-10f), 1.f));
            if (!gx || q < 1e-10f || q > 1.f) continue;
            const float c = -1.f / q;
            float* gb = gx + (b * G + g) * K * HW;
            for (int64_t k = 0; k < K; ++k) gb[k * HW + s] = c * pb[k * HW + s] * (T[k * K + label] - q);
            if (dtb)
              for (int64_t k = 0; k < K; ++k) dtb[k * K + label] += c * pb[k * HW + s];
          }
        }
        loss[blk] = sum;
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
      ctx->saved_data["dx"] = dx.mul_(scale).view(logits.sizes());
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
    return {ctx->saved_data["dx"].toTensor() * g, dt, {}, {}, {}};
  }
};

}  // namespace

namespace {

bool fused_on(const torch::Tensor& logits, const torch::Tensor& class_ntm) {
  return logits.device().is_cpu() && logits.scalar_type() == torch::kFloat32 &&
         (!class_ntm.defined() || class_ntm.scalar_type() == torch::kFloat32);
}

torch::Tensor fused_corrected_nll(const torch::Tensor& logits, const torch::Tensor& labels,
                                  const torch::Tensor& class_ntm, int64_t groups) {
  const bool grad = torch::GradMode::is_enabled() &&
                    (logits.requires_grad() || (class_ntm.defined() && class_ntm.requires_grad()));
  return FusedCorrectedNll::apply(logits, class_ntm.defined() ? class_ntm : torch::empty({0}),
                                  labels.to(torch::kLong).contiguous(), groups, grad);
}

}  // namespace

torch::Tensor corrected_nll(const torch::Tensor& logits, const torch::Tensor& labels, const torch::Tensor& class_ntm) {
  TORCH_CHECK(logits.dim() == 4 && labels.dim() == 3, "corrected_nll: expected B×K×H×W logits and B×H×W labels");
  if (!fused_on(logits, class_ntm)) return corrected_nll_ops(logits, labels, class_ntm);
  return fused_corrected_nll(logits, labels, class_ntm, 1);
}

torch::Tensor class_branch_loss(const torch::Tensor& grid_logits, const torch::Tensor& dar_logits,
                                const torch::Tensor& labels, const torch::Tensor& class_ntm) {
  const auto H = labels.size(1), W = labels.size(2);
  if (!dar_logits.defined()) return corrected_nll(resize_bilinear(grid_logits, H, W), labels, class_ntm);
  if (!fused_on(grid_logits, class_ntm))
    return corrected_nll_ops(resize_bilinear(dar_logits, H, W), labels, class_ntm) +
           corrected_nll_ops(resize_bilinear(grid_logits, H, W), labels, class_ntm);
  // Resizing is per channel: one resize of both maps, one pass for both terms.
  return fused_corrected_nll(resize_bilinear(torch::cat({dar_logits, grid_logits}, 1), H, W), labels, class_ntm, 2);
}

}  // namespace jcas
