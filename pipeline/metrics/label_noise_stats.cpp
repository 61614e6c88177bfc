#include "pipeline/metrics/label_noise_stats.h"

#include <stdexcept>

#include "pipeline/metrics/segmentation_metrics.h"

namespace jcas {

torch::Tensor row_normalize_or_identity(const torch::Tensor& counts) {
  auto c = counts.to(torch::kFloat64);
  auto sums = c.sum(1, true);
  auto eye = torch::eye(c.size(0), c.options());
  return torch::where(sums > 0, c / sums.clamp_min(1e-300), eye);
}

LabelNoiseStats::LabelNoiseStats(int num_classes)
    : k_(num_classes),
      joint_(torch::zeros({num_classes, num_classes}, torch::kLong)),
      affinity_pairs_(torch::zeros({2, 2}, torch::kLong)) {
  if (num_classes < 2) throw std::invalid_argument("LabelNoiseStats needs at least 2 classes");
}

torch::Tensor LabelNoiseStats::affinity_pair_counts(const torch::Tensor& joint) {
  // Exact in int64: an image of n pixels has n² pairs (n up to ~3e9 before overflow).
  auto C = joint.to(torch::kLong);
  const int64_t n = C.sum().item<int64_t>();
  const int64_t sc = C.sum(1).pow(2).sum().item<int64_t>();
  const int64_t sn = C.sum(0).pow(2).sum().item<int64_t>();
  const int64_t ss = C.pow(2).sum().item<int64_t>();
  auto pairs = torch::empty({2, 2}, torch::kLong);
  auto a = pairs.accessor<int64_t, 2>();
  a[0][0] = n * n - sc - sn + ss;
  a[0][1] = sn - ss;
  a[1][0] = sc - ss;
  a[1][1] = ss;
  return pairs;
}

LabelNoiseReport LabelNoiseStats::add(const torch::Tensor& clean, const torch::Tensor& noisy) {
  auto joint = label_confusion(clean, noisy, k_, "clean/noisy label");
  auto pairs = affinity_pair_counts(joint);
  joint_ += joint;
  affinity_pairs_ += pairs;
  ++images_;
  return summarize(joint, pairs, 1);
}

LabelNoiseReport LabelNoiseStats::report() const { return summarize(joint_, affinity_pairs_, images_); }

double LabelNoiseStats::class_noise_rate() const { return report().class_noise_rate; }
double LabelNoiseStats::affinity_noise_rate() const { return report().affinity_noise_rate; }
torch::Tensor LabelNoiseStats::class_ntm() const { return report().class_ntm; }
torch::Tensor LabelNoiseStats::affinity_ntm() const { return report().affinity_ntm; }
torch::Tensor LabelNoiseStats::class_dist_clean() const {
  return torch::tensor(report().class_dist_clean, torch::kFloat64);
}
torch::Tensor LabelNoiseStats::class_dist_noisy() const {
  return torch::tensor(report().class_dist_noisy, torch::kFloat64);
}

LabelNoiseReport LabelNoiseStats::summarize(const torch::Tensor& joint, const torch::Tensor& affinity_pairs,
                                            int64_t images) const {
  LabelNoiseReport r;
  r.images = images;
  r.joint = joint.clone();
  r.affinity_pairs = affinity_pairs.clone();
  r.pixels = joint.sum().item<int64_t>();
  r.flipped_pixels = r.pixels - joint.trace().item<int64_t>();
  r.pairs = affinity_pairs.sum().item<int64_t>();
  r.flipped_pairs = (affinity_pairs[0][1] + affinity_pairs[1][0]).item<int64_t>();
  r.class_noise_rate = r.pixels ? double(r.flipped_pixels) / double(r.pixels) : 0.0;
  r.affinity_noise_rate = r.pairs ? double(r.flipped_pairs) / double(r.pairs) : 0.0;
  r.class_ntm = row_normalize_or_identity(joint);
  r.affinity_ntm = row_normalize_or_identity(affinity_pairs);
  auto rows = joint.sum(1).to(torch::kFloat64), cols = joint.sum(0).to(torch::kFloat64);
  for (int i = 0; i < k_; ++i) {
    r.class_dist_clean.push_back(r.pixels ? rows[i].item<double>() / double(r.pixels) : 0.0);
    r.class_dist_noisy.push_back(r.pixels ? cols[i].item<double>() / double(r.pixels) : 0.0);
  }
  return r;
}

}  // namespace jcas
