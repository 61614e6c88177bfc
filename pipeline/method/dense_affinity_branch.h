#pragma once
// The dense affinity branch of one JCAS head on the CPU (DESIGN §3.3, §3.4): the affinity BCE and
// DAR's products with A = clamp(F̂F̂ᵀ, 1e-10, 1), in one pass over A's tiles on and above the diagonal.
// The same values and gradients as affinity_matrix() + affinity_bce_dense() + A·Q, without their
// dozen passes over B×N×N tensors (and the transposed sum in the product's backward): each tile is
// formed once by a matrix product and worked on while it is in cache, A's symmetry halves the forward
// product, and A·Q's gradient, known only in the backward, is added to the BCE's there.
#include <torch/torch.h>

#include "pipeline/method/affinity_loss.h"

namespace jcas {

struct AffinityBranch {
  torch::Tensor bce;       // scalar: affinity_bce_dense(A, grid_labels, affinity_ntm, ignore)
  torch::Tensor products;  // A·Q, B×N×m (undefined without Q)
};

// fhat B×N×d float32 on the CPU (normalized_embeddings()); q B×N×m or undefined (no products; DAR's
// operand: dar_product_operand()); grid_labels B×N; affinity_ntm 2×2 or undefined. `tile`: the side of
// A's square tiles (0: 256 up to N = 2048, then 1024). Partial sums are added in a fixed order: the
// results do not depend on the thread count. Keeps about N² floats per image for the backward: at
// N >= 4096 the tiled loss (affinity_bce_tiled + dar_lowrank) is faster and much leaner.
AffinityBranch dense_affinity_branch(const torch::Tensor& fhat, const torch::Tensor& q, const torch::Tensor& grid_labels,
                                     const torch::Tensor& affinity_ntm, AffinityIgnore ignore, int64_t tile = 0);

}  // namespace jcas
