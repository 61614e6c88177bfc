#include "pipeline/training/pseudo_label_filters.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "adapters/foundation/error.h"
#include "adapters/foundation/interrupt.h"
#include "adapters/foundation/progress.h"
#include "pipeline/method/affinity_loss.h"
#include "pipeline/method/class_loss.h"
#include "pipeline/training/inference.h"

namespace jcas {
namespace {

namespace F = torch::nn::functional;

// The number of pixels a class of `n` keeps at `portion` (at least one).
int64_t kept_count(double portion, int64_t n) {
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(portion * static_cast<double>(n))));
}

torch::Tensor class_balanced(const torch::Tensor& labels, const torch::Tensor& confidence, double portion,
                             int num_classes) {
  auto out = labels.clone();
  auto flat_labels = labels.reshape({-1});
  auto flat_conf = confidence.reshape({-1}).to(torch::kInt32);
  auto flat_out = out.view({-1});
  // Ties (confidences are stored as 8 bits, and many pixels sit at 255) are broken in a fixed random
  // order, so that exactly the portion stays, spread over the images rather than the first ones.
  torch::Generator gen = at::detail::createCPUGenerator(12345);
  for (int c = 0; c < num_classes; ++c) {
    auto where = (flat_labels == c).nonzero().squeeze(1);
    const int64_t n = where.numel();
    if (n == 0) continue;
    const int64_t keep = kept_count(portion, n);
    auto shuffled = where.index_select(0, torch::randperm(n, gen, torch::kLong));
    auto order = std::get<1>(flat_conf.index_select(0, shuffled).sort(/*stable=*/true, 0, /*descending=*/true));
    flat_out.index_fill_(0, shuffled.index_select(0, order.narrow(0, keep, n - keep)), static_cast<uint8_t>(kIgnoreLabel));
  }
  return out;
}

// CBST's class-normalised labels (see filter_pseudo_labels). λ_c comes from the model's own
// probabilities: the stored 8-bit confidences tie at 255 for most of a confident class, which
// would keep far more than the share.
torch::Tensor class_normalised(const torch::Tensor& labels, double portion, int num_classes, SegmentationModel& model,
                               const SegmentationDataset& images, const InferenceMode& mode,
                               const ExecutionContext& execution) {
  model.move_to(execution.device());
  auto top = torch::empty(labels.sizes(), torch::kFloat32);
  auto arg = torch::empty(labels.sizes(), torch::kUInt8);
  predict_dataset(model, images, mode, execution, "CBST thresholds", [&](size_t i, const Sample&, const torch::Tensor& p) {
    auto [confidence, label] = p.max(0);
    top[static_cast<int64_t>(i)].copy_(confidence);
    arg[static_cast<int64_t>(i)].copy_(label);
  });
  // λ_c; a class no pixel is predicted as keeps an infinite threshold and is never chosen.
  auto lambda = torch::full({num_classes, 1, 1}, std::numeric_limits<float>::infinity());
  const auto flat_top = top.reshape({-1}), flat_arg = arg.reshape({-1}), labelled = labels.reshape({-1}) != kIgnoreLabel;
  for (int c = 0; c < num_classes; ++c) {
    auto conf = flat_top.masked_select((flat_arg == c) & labelled);
    if (conf.numel() == 0) continue;
    lambda[c] = std::get<0>(conf.topk(kept_count(portion, conf.numel()))).min();
  }
  auto out = torch::full(labels.sizes(), static_cast<uint8_t>(kIgnoreLabel), torch::kUInt8);
  predict_dataset(model, images, mode, execution, "CBST labels", [&](size_t i, const Sample&, const torch::Tensor& p) {
    auto [ratio, label] = (p / lambda).max(0);
    const auto index = static_cast<int64_t>(i);
    out[index].copy_(label.to(torch::kUInt8).masked_fill((ratio < 1) | (labels[index] == kIgnoreLabel),
                                                         static_cast<uint8_t>(kIgnoreLabel)));
  });
  return out;
}

// Which DPL views add input noise (the others are the image and its mirror).
bool noisy_view(int v) { return (v / 2) % 2 == 1; }

// Draws what dpl_keep draws for a batch of `sizes` without computing it: a data-parallel rank
// skipping another rank's batch keeps the generator where one process would have it.
void skip_dpl_draws(const std::vector<int64_t>& sizes, const LabelFilterOptions& o, torch::Generator& gen) {
  for (int v = 0; v < o.dpl_views; ++v)
    if (noisy_view(v)) torch::randn(sizes, gen, torch::kFloat32);
}

// One image batch's DPL mask (true = keep) for its pseudo labels `pl` (B x H x W, long).
torch::Tensor dpl_keep(SegmentationModel& model, const torch::Tensor& x, const torch::Tensor& pl,
                       const InferenceMode& mode, const LabelFilterOptions& o, torch::Generator& gen) {
  torch::NoGradGuard no_grad;
  const auto h = x.size(2), w = x.size(3);
  std::vector<torch::Tensor> pclass;  // per view: B x H x W probability of the pseudo class
  torch::Tensor feat;
  for (int v = 0; v < o.dpl_views; ++v) {
    const bool flip = v % 2 == 1, noisy = noisy_view(v);
    auto xv = flip ? x.flip({3}) : x;
    if (noisy) xv = xv + o.dpl_noise * torch::randn(xv.sizes(), gen, xv.options());
    ModelOutput out = model.forward(xv);
    auto p = predict_probabilities(out.feat2, out.pred2, static_cast<int>(h), static_cast<int>(w), mode);
    if (flip) p = p.flip({3});
    pclass.push_back(p.gather(1, pl.unsqueeze(1)).squeeze(1));
    if (v == 0) feat = out.feat2;
  }
  auto certain = torch::stack(pclass).std(0, /*unbiased=*/false) < o.dpl_uncertainty;

  // Embeddings at the label size, unit length per pixel.
  auto f = F::normalize(resize_bilinear(feat, h, w), F::NormalizeFuncOptions().dim(1));  // B x d x H x W
  const int64_t k = model.num_classes();
  auto keep = certain.clone();
  for (int64_t b = 0; b < x.size(0); ++b) {
    auto fb = f[b].reshape({f.size(1), -1});  // d x HW
    auto lb = pl[b].reshape({-1});
    auto cb = certain[b].reshape({-1});
    std::vector<torch::Tensor> protos;
    std::vector<bool> has(k, false);
    for (int64_t c = 0; c < k; ++c) {
      auto m = ((lb == c) & cb).to(fb.dtype());
      const double count = m.sum().item<double>();
      has[c] = count > 0;
      protos.push_back(has[c] ? F::normalize((fb * m).sum(1) / count, F::NormalizeFuncOptions().dim(0))
                              : torch::zeros({fb.size(0)}, fb.options()));
    }
    auto sim = torch::matmul(torch::stack(protos), fb);  // K x HW cosine similarity
    for (int64_t c = 0; c < k; ++c)
      if (!has[c]) sim[c].fill_(-2.0);  // an absent prototype is never the nearest
    auto nearest = sim.argmax(0);
    auto own_has = torch::tensor(std::vector<int64_t>(has.begin(), has.end())).to(lb.device()).index_select(0, lb);
    // A class without a certain pixel in this image has no prototype to agree with: uncertainty decides.
    auto agree = (nearest == lb) | (own_has == 0);
    keep[b].view({-1}).logical_and_(agree);
  }
  return keep;
}

}  // namespace

void LabelFilterOptions::bind(OptionBinder& b) {
  b.bind("cbst_portion", &cbst_portion,
         "class-balanced filter: the most a round keeps of each class's pixels (most confident; the schedule's cap)");
  OptionBinder later = b.added_later();
  later.bind("cbst_start", &cbst_start, "class-balanced filter: the share of each class kept in round 0");
  later.bind("cbst_step", &cbst_step, "class-balanced filter: the share added every round (up to cbst_portion)");
  later.bind("cbst_normalised", &cbst_normalised,
             "class-balanced filter: CBST's class-normalised labels (argmax p_c / threshold_c) rather than each "
             "class's most confident share of the pseudo labels as they are");
  b.bind("dpl_uncertainty", &dpl_uncertainty,
         "DPL filter: kept where the pseudo class's probability varies less than this (std over views)");
  b.bind("dpl_views", &dpl_views, "DPL filter: passes per image (flips and input noise)");
  b.bind("dpl_noise", &dpl_noise, "DPL filter: std of the noise added to the normalised image");
}

void LabelFilterOptions::check() const {
  if (!(cbst_portion > 0 && cbst_portion <= 1)) throw UserError("--retrain.cbst_portion must be in (0, 1]");
  if (!(cbst_start > 0 && cbst_start <= 1)) throw UserError("--retrain.cbst_start must be in (0, 1]");
  if (!(cbst_step >= 0)) throw UserError("--retrain.cbst_step must be >= 0");
  if (!(dpl_uncertainty > 0)) throw UserError("--retrain.dpl_uncertainty must be > 0");
  if (dpl_views < 2) throw UserError("--retrain.dpl_views must be >= 2 (the uncertainty is a spread over views)");
  if (!(dpl_noise >= 0)) throw UserError("--retrain.dpl_noise must be >= 0");
}

double LabelFilterOptions::cbst_share(int round) const {
  return std::min(cbst_start + cbst_step * round, cbst_portion);
}

FilteredLabels filter_pseudo_labels(LabelFilter filter, const torch::Tensor& labels, const torch::Tensor& confidence,
                                    SegmentationModel& model, const SegmentationDataset& images,
                                    const InferenceMode& mode, const LabelFilterOptions& o, int round,
                                    const ExecutionContext& execution) {
  FilteredLabels out;
  const int k = model.num_classes();
  if (filter == LabelFilter::none) {
    out.labels = labels;
    out.kept_per_class = torch::ones({k}, torch::kFloat64);
    return out;
  }
  if (filter == LabelFilter::class_balanced) {
    const double share = o.cbst_share(round);
    out.labels = o.cbst_normalised ? class_normalised(labels, share, k, model, images, mode, execution)
                                   : class_balanced(labels, confidence, share, k);
  } else {
    // Each rank takes every world_size-th batch; the rejected pixels of all ranks are added up.
    model.move_to(execution.device());
    model.set_training(false);
    torch::Generator gen = at::detail::createCPUGenerator(12345);
    const int64_t n = labels.size(0), batch = 4, world = execution.world_size();
    auto rejected = torch::zeros(labels.sizes(), torch::kUInt8);
    ProgressBar bar("DPL filter", (n + world - 1) / world, "img");
    for (int64_t first = 0, b = 0; first < n; first += batch, ++b) {
      const int64_t count = std::min(n, first + batch) - first;
      if (b % world != execution.rank()) {
        skip_dpl_draws({count, 3, labels.size(1), labels.size(2)}, o, gen);
        continue;
      }
      std::vector<size_t> idx;
      for (int64_t i = first; i < first + count; ++i) idx.push_back(static_cast<size_t>(i));
      auto x = images.batch(idx).first;
      auto pl = labels.narrow(0, first, count);
      auto keep = dpl_keep(model, x.to(execution.device()), pl.to(execution.device(), torch::kLong), mode, o, gen);
      rejected.narrow(0, first, count).copy_(keep.to(torch::kCPU).logical_not());
      bar.advance(count);
      check_interrupted();
    }
    bar.finish();
    std::vector<torch::Tensor> all = {rejected};
    execution.all_reduce_sum(all);
    out.labels = labels.masked_fill(all[0].to(torch::kBool), static_cast<uint8_t>(kIgnoreLabel));
  }
  const auto valid = (labels != kIgnoreLabel).sum().item<double>();
  out.kept = valid > 0 ? (out.labels != kIgnoreLabel).sum().item<double>() / valid : 0.0;
  out.kept_per_class = torch::zeros({k}, torch::kFloat64);
  for (int c = 0; c < k; ++c) {
    const auto before = (labels == c).sum().item<double>();
    if (before > 0) out.kept_per_class[c] = (out.labels == c).sum().item<double>() / before;
  }
  return out;
}

}  // namespace jcas
