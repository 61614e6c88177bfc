#include "pipeline/model/sync_batchnorm.h"

#include <algorithm>

namespace jcas {
namespace {

// The replicas' sum as an autograd function. With the step's loss the w_r-weighted mean of the
// replicas' losses L_r and their gradients averaged with the same weights, a replica's backward
// must carry (1/w_r) x the sum over replicas of w_r' x dL_r'/d(sum); a replica of weight 0
// contributes nothing and receives nothing.
class SumOverReplicas : public torch::autograd::Function<SumOverReplicas> {
 public:
  struct Holder : torch::CustomClassHolder {
    explicit Holder(const ReplicaSum& s) : sum(s) {}
    ReplicaSum sum;
  };

  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& local,
                               const ReplicaSum& sum, double weight) {
    ctx->saved_data["sum"] = c10::IValue::make_capsule(c10::make_intrusive<Holder>(sum));
    ctx->saved_data["weight"] = weight;
    std::vector<torch::Tensor> total = {local.detach().clone()};
    sum(total);
    return total[0];
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto holder = c10::static_intrusive_pointer_cast<Holder>(ctx->saved_data["sum"].toCapsule());
    const double weight = ctx->saved_data["weight"].toDouble();
    std::vector<torch::Tensor> weighted = {grads[0].mul(weight)};
    holder->sum(weighted);
    torch::Tensor mine = weight > 0 ? weighted[0].div(weight) : torch::zeros_like(weighted[0]);
    return {mine, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

SyncBatchNorm2dImpl::SyncBatchNorm2dImpl(int64_t features) : options(features) { reset(); }

// As torch::nn::BatchNorm2d (NormImplBase::reset): affine weight 1 and bias 0, running mean 0 and
// variance 1, registered in this order.
void SyncBatchNorm2dImpl::reset() {
  const int64_t c = options.num_features();
  if (options.affine()) {
    weight = register_parameter("weight", torch::ones({c}));
    bias = register_parameter("bias", torch::zeros({c}));
  }
  if (options.track_running_stats()) {
    running_mean = register_buffer("running_mean", torch::zeros({c}));
    running_var = register_buffer("running_var", torch::ones({c}));
    num_batches_tracked = register_buffer("num_batches_tracked", torch::zeros({}, torch::kLong));
  }
}

torch::Tensor SyncBatchNorm2dImpl::forward(const torch::Tensor& input) {
  TORCH_CHECK(input.dim() == 4, "SyncBatchNorm2d: expected a 4-D input, got ", input.dim(), "-D");
  if (replicas_ && is_training()) return synchronised(input);
  // BatchNormImplBase::forward's computation.
  const double factor = is_training() ? running_factor() : 0.0;
  return torch::batch_norm(input, weight, bias, running_mean, running_var,
                           is_training() || !options.track_running_stats(), factor, options.eps(),
                           at::globalContext().userEnabledCuDNN());
}

double SyncBatchNorm2dImpl::running_factor() {
  if (!options.track_running_stats() || !num_batches_tracked.defined()) return options.momentum().value_or(0.0);
  num_batches_tracked += 1;
  // No momentum: the cumulative average.
  return options.momentum() ? *options.momentum() : 1.0 / num_batches_tracked.item<double>();
}

torch::Tensor SyncBatchNorm2dImpl::synchronised(const torch::Tensor& input) {
  const torch::Tensor x = input.to(torch::kFloat32);  // autocast's bfloat16 normalised in float
  const int64_t channels = x.size(1), count = x.numel() / channels;
  // Each replica's mean and centred sum of squares (stable in float), combined in float64 as
  // sums: n m and q + n m^2 add over replicas to N M and N (V + M^2). Computed from x even for an
  // empty batch (zeros), so that every replica's backward reaches the all-reduce below.
  const auto n = static_cast<double>(count);
  const torch::Tensor mean = x.sum({0, 2, 3}) / std::max(n, 1.0);
  const torch::Tensor centred = (x - mean.view({1, -1, 1, 1})).square().sum({0, 2, 3});
  const torch::Tensor m = mean.to(torch::kFloat64);
  const torch::Tensor local =
      torch::cat({m * n, centred.to(torch::kFloat64) + m.square() * n, torch::full({1}, n, m.options())});
  const torch::Tensor total = SumOverReplicas::apply(local, replicas_, loss_weight_);
  const double all = total[2 * channels].item<double>();
  TORCH_CHECK(all > 1, "synchronised BatchNorm needs more than one value per channel over the replicas, got ", all);
  const torch::Tensor global_mean = total.narrow(0, 0, channels) / all;
  const torch::Tensor global_var = (total.narrow(0, channels, channels) / all - global_mean.square()).clamp_min(0);

  if (options.track_running_stats()) {
    torch::NoGradGuard no_grad;
    const double factor = running_factor();
    running_mean.mul_(1 - factor).add_(global_mean.to(running_mean.dtype()), factor);
    running_var.mul_(1 - factor).add_((global_var * (all / (all - 1))).to(running_var.dtype()), factor);
  }
  const torch::Tensor scale = (global_var + options.eps()).rsqrt().to(torch::kFloat32);
  torch::Tensor y = (x - global_mean.to(torch::kFloat32).view({1, -1, 1, 1})) * scale.view({1, -1, 1, 1});
  if (options.affine()) y = y * weight.view({1, -1, 1, 1}) + bias.view({1, -1, 1, 1});
  return y.to(input.scalar_type());
}

}  // namespace jcas
