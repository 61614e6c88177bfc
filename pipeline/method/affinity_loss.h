#pragma once
// The affinity branch (DESIGN §3.3): pair-wise supervision of embedding similarities.
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace jcas {

constexpr int64_t kIgnoreLabel = 255;

// How pairs that touch an ignore (255) pixel are treated.
enum class AffinityIgnore {
  exclude,   // left out of the loss (default)
  as_class,  // the reference: 255 is one more class (similar to other ignore pixels only)
};
template <class E>
struct EnumNames;
template <>
struct EnumNames<AffinityIgnore> {
  static const std::vector<std::pair<AffinityIgnore, const char*>>& table();
};

// Embeddings B×d×h×w -> F̂ B×N×d (N = grid_h·grid_w, row-major over the grid): resized bilinear
// (align_corners = true) to the grid, ReLU'd and divided by (‖x‖₂ + 1e-9), exactly as the reference.
torch::Tensor normalized_embeddings(const torch::Tensor& feat, int64_t grid_h, int64_t grid_w);

// Labels B×H×W (uint8 or integer) -> B×N int64 at the grid, resized "nearest" as the reference's
// nn.Upsample(mode='nearest'): source index floor(dst · in/out).
torch::Tensor grid_labels(const torch::Tensor& labels, int64_t grid_h, int64_t grid_w);

// A = F̂F̂ᵀ clamped to [1e-10, 1] (B×N×N).
torch::Tensor affinity_matrix(const torch::Tensor& fhat);

// Mean BCE between the (optionally T_A-corrected) affinity and the label affinity Y (Y_ab = 1 when
// the grid labels of a and b are equal). `affinity_ntm` (2×2, [dissimilar, similar]) may be undefined
// (no correction); with it A' = (1 − A)·T_A[0][1] + A·T_A[1][1]. With `exclude`, the mean runs over the
// pairs whose two pixels are both not ignore (0 if there is none). log is clamped at −100 as
// torch's binary_cross_entropy.
// Dense: on the B×N×N affinity `affinity` (from affinity_matrix()), as a chain of tensor operations,
// differentiable in it (any device; on the CPU training uses dense_affinity_branch(), tested against this).
torch::Tensor affinity_bce_dense(const torch::Tensor& affinity, const torch::Tensor& grid_labels,
                                 const torch::Tensor& affinity_ntm, AffinityIgnore ignore);
// Tiled: the same value and gradients (w.r.t. F̂ and T_A) from F̂ (B×N×d, float32). A is formed tile by
// tile (`block_rows`² entries, 0 = automatic: 1024²), only the tiles on and above the diagonal (A and the
// pair losses are symmetric), and once: the forward computes the loss and, when F̂ or T_A needs it, the
// gradient in the same pass, keeping O(N·d + tile²) memory; the backward only scales it.
torch::Tensor affinity_bce_tiled(const torch::Tensor& fhat, const torch::Tensor& grid_labels,
                                 const torch::Tensor& affinity_ntm, AffinityIgnore ignore, int64_t block_rows = 0);

}  // namespace jcas
