#pragma once
// Differentiated affinity reasoning (DESIGN §3.4) on grid-resolution logits P (B×K×h×w, N = h·w), as the
// reference computes it (and its fixture confirms): Â⁻ normalises 1 − Â, the already normalised affinity.
//   Â = rownorm_L1(A), Â⁻ = rownorm_L1(1 − Â), P_dar = ((P + ÂP) + (P − Â⁻P)) / 2.
// Because Â's entries are about 1/N, the reference's Â⁻P is almost the image's mean logit; the
// `affinity` complement Â⁻ = rownorm_L1(1 − A) weights each pixel by its dissimilarity instead, so the
// inter half subtracts the mean logit of the pixels unlike this one (an option, DESIGN §3.4).
#include <torch/torch.h>

namespace jcas {

// What the inter-class half of DAR normalises: 1 − Â (normalised; the reference) or 1 − A (affinity).
enum class DarComplement { normalised, affinity };

// From the clamped affinity A (B×N×N, affinity_matrix()). O(N²·K).
torch::Tensor dar_dense(const torch::Tensor& affinity, const torch::Tensor& grid_logits,
                        DarComplement complement = DarComplement::normalised);

// DAR needs A only through A·Q with Q = [P, 1] (B×N×(K+1), P's rows): AP and A's row sums.
torch::Tensor dar_product_operand(const torch::Tensor& grid_logits);
// The dense form from A·Q (as dense_affinity_branch() computes it with the affinity loss).
torch::Tensor dar_from_products(const torch::Tensor& aq, const torch::Tensor& grid_logits,
                                DarComplement complement = DarComplement::normalised);

// Low-rank form from F̂ (B×N×d, normalized_embeddings()), O(N·d·K), never forming A:
//   A P = F̂(F̂ᵀP),  row sums F̂(F̂ᵀ1),  (1 − Â)P = 1(1ᵀP) − ÂP,  (1 − A)P = 1(1ᵀP) − AP.
// The clamp of A to [1e-10, 1] is modelled as A + 1e-10 everywhere. F̂ is ReLU'd, so A >= 0 and the
// lower clamp only changes exact zeros (disjoint supports, or an all-zero embedding): those become 1e-10
// exactly as in the dense form, while adding 1e-10 to an entry >= ~1e-3 is below float32 resolution.
// Only entries in (0, ~1e-3) differ, by at most 1e-10 each, and the upper clamp (A_ii rounding a few
// ulps above 1) is ignored: the two forms agree to float tolerance (relative ~1e-6). The gradients
// agree as well: a clamped (zero) entry has zero gradient in the dense form, and here its gradient only
// reaches components of F̂ that the ReLU zeroed, so it is discarded by the ReLU's backward.
torch::Tensor dar_lowrank(const torch::Tensor& fhat, const torch::Tensor& grid_logits,
                          DarComplement complement = DarComplement::normalised);

}  // namespace jcas
