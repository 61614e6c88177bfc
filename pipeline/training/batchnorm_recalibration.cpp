#include "pipeline/training/batchnorm_recalibration.h"

#include <fmt/format.h>

#include "adapters/foundation/error.h"
#include "adapters/foundation/interrupt.h"
#include "adapters/foundation/log.h"
#include "adapters/foundation/progress.h"
#include "pipeline/model/batchnorm_layers.h"

namespace jcas {
namespace {

// A BatchNorm in training mode updates running = (1 - m) running + m batch_statistic; with every
// num_batches_tracked at 0 before the forward, m is the layer's momentum, or 1 when it is None.
void set_running(const std::vector<BatchNormLayer>& layers, double value) {
  for (const auto& l : layers) {
    l.running_mean.fill_(value);
    l.running_var.fill_(value);
    if (l.num_batches_tracked.defined()) l.num_batches_tracked.zero_();
  }
}

}  // namespace

void bind_adabn(OptionBinder& p, bool* adabn) {
  p.bind("adabn", adabn,
         "recompute the model's BatchNorm statistics on the target train split before labelling (AdaBN); retraining "
         "continues from that model");
}

int recalibrate_batchnorm(SegmentationModel& model, const SegmentationDataset& images,
                          const ExecutionContext& execution, const std::string& label) {
  const int64_t batch_size = 4;
  const auto layers = batchnorm_layers(model);
  if (layers.empty() || images.size() == 0) return 0;
  torch::NoGradGuard no_grad;
  const torch::Device device = execution.device();
  model.move_to(device);
  model.set_training(false);
  model.set_batchnorm_training(true);  // nothing else in training mode (no dropout)
  std::vector<torch::Tensor> tracked;
  for (const auto& l : layers)
    tracked.push_back(l.num_batches_tracked.defined() ? l.num_batches_tracked.clone() : torch::Tensor());

  const auto n = static_cast<int64_t>(images.size());
  auto batch = [&](int64_t b) {
    std::vector<torch::Tensor> xs;
    for (int64_t i = b * batch_size; i < std::min(n, (b + 1) * batch_size); ++i)
      xs.push_back(images.get(static_cast<size_t>(i)).image);
    return torch::stack(xs).to(device);
  };
  // Each layer's m from one batch run twice, once from running statistics 0 and once from 1: the
  // difference of the two updates is 1 - m, whatever the batch's statistics.
  auto first = batch(0);
  set_running(layers, 0.0);
  model.forward(first);
  std::vector<torch::Tensor> from_zero;
  for (const auto& l : layers) from_zero.push_back(l.running_mean.clone());
  set_running(layers, 1.0);
  model.forward(first);
  std::vector<double> momentum;
  for (size_t i = 0; i < layers.size(); ++i) {
    double m = 1.0 - (layers[i].running_mean - from_zero[i]).to(torch::kFloat64).mean().item<double>();
    if (!(m > 1e-6))
      throw UserError(fmt::format("{}: BatchNorm layer '{}' does not update its running statistics in training "
                                  "mode (momentum 0); AdaBN cannot recalibrate it",
                                  label, layers[i].name));
    momentum.push_back(m);
  }

  // Each batch's count-weighted means and E[x^2], one float64 row per batch over all layers' channels.
  // A data-parallel run's ranks fill every world_size-th row and add the rows up (x + 0 is exact),
  // so that the sums below are folded in batch order as one process folds them: the same bits.
  std::vector<int64_t> offset = {0};
  for (const auto& l : layers) offset.push_back(offset.back() + l.running_mean.numel());
  const int64_t channels = offset.back();
  const int64_t batches = (n + batch_size - 1) / batch_size;
  const int64_t world = execution.world_size();
  std::vector<torch::Tensor> rows = {torch::zeros({batches, 2 * channels}, torch::kFloat64)};
  ProgressBar bar(label, (batches - execution.rank() + world - 1) / world, "batch");
  for (int64_t b = execution.rank(); b < batches; b += world) {
    auto x = batch(b);
    const double count = static_cast<double>(x.size(0));
    set_running(layers, 0.0);
    model.forward(x);
    for (size_t i = 0; i < layers.size(); ++i) {
      auto mean = layers[i].running_mean.to(torch::kCPU, torch::kFloat64) / momentum[i];
      auto var = layers[i].running_var.to(torch::kCPU, torch::kFloat64) / momentum[i];
      auto square = var + mean * mean;  // E[x^2] of the batch
      const int64_t size = offset[i + 1] - offset[i];
      rows[0][b].narrow(0, offset[i], size).copy_(count * mean);
      rows[0][b].narrow(0, channels + offset[i], size).copy_(count * square);
    }
    bar.advance();
    check_interrupted();
  }
  bar.finish();
  execution.all_reduce_sum(rows);
  auto sums = rows[0][0].clone();
  for (int64_t b = 1; b < batches; ++b) sums += rows[0][b];
  std::vector<torch::Tensor> sum_mean, sum_square;
  for (size_t i = 0; i < layers.size(); ++i) {
    const int64_t size = offset[i + 1] - offset[i];
    sum_mean.push_back(sums.narrow(0, offset[i], size).view_as(layers[i].running_mean).to(layers[i].running_mean.device()));
    sum_square.push_back(
        sums.narrow(0, channels + offset[i], size).view_as(layers[i].running_var).to(layers[i].running_var.device()));
  }
  for (size_t i = 0; i < layers.size(); ++i) {
    auto mean = sum_mean[i] / static_cast<double>(n);
    auto var = (sum_square[i] / static_cast<double>(n) - mean * mean).clamp_min(0.0);
    layers[i].running_mean.copy_(mean);
    layers[i].running_var.copy_(var);
    if (tracked[i].defined()) layers[i].num_batches_tracked.copy_(tracked[i]);
  }
  model.set_training(false);
  log::info("{}: BatchNorm statistics of {} layers recomputed on {} target images", label, layers.size(), n);
  return static_cast<int>(layers.size());
}

}  // namespace jcas
