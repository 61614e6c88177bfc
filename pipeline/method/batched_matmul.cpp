#include "pipeline/method/batched_matmul.h"

#include <ATen/Parallel.h>

namespace jcas {

namespace {

// out[i] = a[i] · b[i] for every image i, the images spread over the threads (each product on one
// BLAS thread). a, b may be transposed views.
torch::Tensor products(const torch::Tensor& a, const torch::Tensor& b) {
  auto out = torch::empty({a.size(0), a.size(1), b.size(2)}, a.options());
  at::parallel_for(0, a.size(0), 1, [&](int64_t first, int64_t last) {
    torch::NoGradGuard no_grad;  // grad mode is per thread: the worker's does not follow the caller's
    for (int64_t i = first; i < last; ++i) {
      auto o = out[i];
      at::mm_out(o, a[i], b[i]);
    }
  });
  return out;
}

class BatchedMatmul : public torch::autograd::Function<BatchedMatmul> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor a, torch::Tensor b) {
    ctx->save_for_backward({a, b});
    return products(a, b);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const auto& g = grad_out[0];
    torch::Tensor ga, gb;
    if (ctx->needs_input_grad(0)) ga = products(g, saved[1].transpose(1, 2));
    if (ctx->needs_input_grad(1)) gb = products(saved[0].transpose(1, 2), g);
    return {ga, gb};
  }
};

}  // namespace

torch::Tensor batched_matmul(const torch::Tensor& a, const torch::Tensor& b) {
  TORCH_CHECK(a.dim() == 3 && b.dim() == 3 && a.size(0) == b.size(0) && a.size(2) == b.size(1),
              "batched_matmul: expected B×n×k and B×k×m");
  if (!a.device().is_cpu() || a.size(0) < 2) return torch::bmm(a, b);
  return BatchedMatmul::apply(a, b);
}

}  // namespace jcas
