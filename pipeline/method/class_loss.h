#pragma once
// The class branch (DESIGN §3.5): forward-corrected NLL on resized logits.
#include <torch/torch.h>

namespace jcas {

// Bilinear resize with align_corners = true (the reference's nn.Upsample) of B×C×h×w.
torch::Tensor resize_bilinear(const torch::Tensor& x, int64_t height, int64_t width);

// Logits B×K×H×W at the label size, labels B×H×W (int64; 255 = ignore). softmax over K, then
// p · T_C when `class_ntm` is defined, then mean NLL of log(clamp(p, 1e-10, 1)) over the non-ignore
// pixels (0 when there is none, as the reference's CrossEntropy2d(is_softmax=False)).
// On the CPU in float32 one fused pass (the gradient computed with the loss), elsewhere
// corrected_nll_ops; the two agree to float rounding (tested).
torch::Tensor corrected_nll(const torch::Tensor& logits, const torch::Tensor& labels, const torch::Tensor& class_ntm);
// The same loss as a chain of tensor operations (any device and dtype).
torch::Tensor corrected_nll_ops(const torch::Tensor& logits, const torch::Tensor& labels, const torch::Tensor& class_ntm);

// Class-branch loss: corrected_nll(resize(dar_logits)) + corrected_nll(resize(grid_logits)), both
// resized to the label size. `dar_logits` may be undefined (plain term only).
torch::Tensor class_branch_loss(const torch::Tensor& grid_logits, const torch::Tensor& dar_logits,
                                const torch::Tensor& labels, const torch::Tensor& class_ntm);

}  // namespace jcas
