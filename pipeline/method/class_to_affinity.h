#pragma once
// Class-level NTM -> affinity-level NTM, closed form (DESIGN §3.2).
#include <torch/torch.h>

namespace jcas {

// T_{C→A} from a K×K row-stochastic class NTM (rows clean, columns noisy) and class proportions N (K).
// Returns 2×2, index 0 = dissimilar pair, 1 = similar pair, rows clean, columns noisy:
//   same = Σ_m N_m² ‖T[m,:]‖²,  s = Nᵀ T,  q = Σ_m N_m²
//   [1][1] = same / q,  [0][1] = (‖s‖² − same) / ((Σ N)² − q),  [1][0] = 1 − [1][1],  [0][0] = 1 − [0][1].
// Pairs are ordered pixel pairs within an image, self-pairs included. O(K²), differentiable in
// `class_ntm` (and `class_dist`). Throws std::invalid_argument on mismatched shapes.
torch::Tensor class_to_affinity(const torch::Tensor& class_ntm, const torch::Tensor& class_dist);

// The same numbers in the order the reference's `class2affinity` loop stores them
// (index 0 = similar, 1 = dissimilar): both axes of class_to_affinity() reversed.
torch::Tensor class_to_affinity_reference_order(const torch::Tensor& class_ntm, const torch::Tensor& class_dist);

}  // namespace jcas
