#pragma once
// Batched matrix product that uses every LibTorch thread on the CPU.
#include <torch/torch.h>

namespace jcas {

// a B×n×k, b B×k×m -> B×n×m, differentiable in both. LibTorch's CPU bmm multiplies the batch's
// matrices one after the other, each with one BLAS thread (jcas keeps OpenBLAS at one thread inside
// each LibTorch thread; set_thread_count), so the loss's products ran on one core. Here the images
// are spread over LibTorch's threads, in the forward and in the backward. Other devices: torch::bmm.
torch::Tensor batched_matmul(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace jcas
