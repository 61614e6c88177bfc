#pragma once
// The affinity BCE's row pass over a block of A, shared by the CPU kernels of the affinity branch
// (the tiled loss in affinity_loss.cpp and the dense branch in dense_affinity_branch.cpp).
#include <torch/torch.h>

#include <cstdint>

#include "pipeline/method/affinity_loss.h"

namespace jcas::detail {

// One block of the BCE. On entry `a` holds A = F̂_r F̂_cᵀ (rows × n, unclamped). Returns the summed BCE of
// the block, overwrites `a` with dL_sum/dA (zero where the clamp to [1e-10, 1] is active) and adds
// dL_sum/dT_A[0][1], dL_sum/dT_A[1][1] into g01, g11 (L_sum = summed BCE). The gradient comes with the
// loss in the same vectorised pass; callers that need only the loss pass a scratch copy of A.
double bce_block(float* a, int64_t rows, int64_t n, const int32_t* code_r, const float* w_r, const int32_t* code,
                 const float* w, float t01, float t11, double& g01, double& g11);

// What the row passes read: labels as int32 codes, each pixel's weight (0 = excluded), the number of
// weighted pairs, and [T_A[0][1], T_A[1][1]] (the identity's [0, 1] without correction: then A' = A
// exactly).
struct PairInputs {
  torch::Tensor codes, weights, ta;
  double count = 0;
  PairInputs(const torch::Tensor& grid_labels, const torch::Tensor& affinity_ntm, AffinityIgnore ignore);
};

}  // namespace jcas::detail
