#include "pipeline/metrics/label_free_criteria.h"

#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "adapters/foundation/error.h"

#include "pipeline/metrics/segmentation_metrics.h"

namespace jcas {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Per-pixel entropy of K x H x W probabilities, in nats.
torch::Tensor pixel_entropy(const torch::Tensor& p) { return -(p * p.clamp_min(1e-12).log()).sum(0); }

torch::Tensor labels_of(const torch::Tensor& p) { return p.argmax(0).to(torch::kUInt8); }

void add_confusion(torch::Tensor& total, const torch::Tensor& a, const torch::Tensor& b, int k) {
  const auto c = label_confusion(a, b, k);
  total = total.defined() ? total + c : c;
}

// Mean foreground Jaccard of two label maps' confusion (see the header); NaN when undefined.
double agreement(const torch::Tensor& confusion) {
  if (!confusion.defined()) return kNaN;
  const auto c = confusion.to(torch::kFloat64);
  const auto both = c.diagonal(), either = c.sum(0) + c.sum(1) - both;
  double sum = 0;
  int classes = 0;
  for (int64_t k = 1; k < c.size(0); ++k) {
    if (either[k].item<double>() == 0) continue;
    sum += both[k].item<double>() / either[k].item<double>();
    ++classes;
  }
  return classes ? sum / classes : 1.0;
}

}  // namespace

const std::vector<CriterionInfo>& label_free_criteria() {
  static const std::vector<CriterionInfo> list = {
      {"certainty", "1 - mean pixel entropy / log K (entropy minimisation; Morerio et al., ICLR 2018)"},
      {"confidence", "mean max-probability (Hendrycks & Gimpel, ICLR 2017)"},
      {"info_max", "H(mean prediction) - mean H(prediction), / log K (Gomes et al., NeurIPS 2010; SHOT, ICML 2020)"},
      {"flip_agreement", "mean Jaccard between the labels of an image and of its mirror image mirrored back"},
      {"dar_agreement", "mean Jaccard between the softmax and the DAR read-out's labels (DAR models only)"},
      {"snd", "soft neighbourhood density of sampled pixels' probabilities (Saito et al., ICCV 2021)"},
      {"expected_mjac", "the mJac the model expects of its own labels if calibrated (global, foreground classes)"},
  };
  return list;
}

void check_criterion(const std::string& name, const std::string& option) {
  std::vector<std::string> names;
  for (const auto& c : label_free_criteria()) {
    if (name == c.name) return;
    names.emplace_back(c.name);
  }
  throw UserError(fmt::format("{}: unknown criterion '{}' (one of: {})", option, name, fmt::join(names, ", ")));
}

LabelFreeCriteria::LabelFreeCriteria(int num_classes, int64_t images, LabelFreeCriteriaOptions options)
    : k_(num_classes),
      images_(images),
      options_(options),
      labelled_(torch::zeros({num_classes}, torch::kFloat64)),
      true_mass_(torch::zeros({num_classes}, torch::kFloat64)),
      tp_mass_(torch::zeros({num_classes}, torch::kFloat64)) {}

void LabelFreeCriteria::add(int64_t index, const torch::Tensor& probabilities, const torch::Tensor& mirrored,
                            const torch::Tensor& softmax) {
  const auto p = probabilities.to(torch::kCPU, torch::kFloat64);
  const auto pixels = p.size(1) * p.size(2);
  const auto [conf, arg] = p.max(0);
  entropy_sum_ += pixel_entropy(p).sum().item<double>();
  confidence_sum_ += conf.sum().item<double>();
  pixels_ += pixels;
  const auto flat = p.reshape({k_, pixels});
  // expected_mjac's totals (and info_max's mean prediction).
  const auto onehot = torch::one_hot(arg.reshape({pixels}), k_).t().to(torch::kFloat64);  // K x pixels
  labelled_ += onehot.sum(1);
  true_mass_ += flat.sum(1);
  tp_mass_ += (onehot * flat).sum(1);
  const auto labels = arg.to(torch::kUInt8);
  if (mirrored.defined()) add_confusion(flip_, labels, labels_of(mirrored.to(torch::kCPU)), k_);
  if (softmax.defined()) add_confusion(dar_, labels, labels_of(softmax.to(torch::kCPU)), k_);
  // SND's pixels: a few per image, drawn by the image's index.
  const int64_t per_image = std::max<int64_t>(1, (options_.snd_pixels + images_ - 1) / std::max<int64_t>(images_, 1));
  auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(index) * 0x9E3779B97F4A7C15ULL + 1);
  const auto picks = torch::randperm(pixels, gen, torch::kLong).narrow(0, 0, std::min(per_image, pixels));
  snd_sample_.push_back(flat.index_select(1, picks).t().to(torch::kFloat32));
}

std::vector<std::pair<std::string, double>> LabelFreeCriteria::values() const {
  const double log_k = std::log(static_cast<double>(k_));
  const double n = static_cast<double>(std::max<int64_t>(pixels_, 1));
  std::vector<std::pair<std::string, double>> v;
  const double mean_entropy = entropy_sum_ / n / log_k;
  v.emplace_back("certainty", pixels_ ? 1 - mean_entropy : kNaN);
  v.emplace_back("confidence", pixels_ ? confidence_sum_ / n : kNaN);
  const auto mean_p = true_mass_ / n;
  const double entropy_of_mean = -(mean_p * mean_p.clamp_min(1e-12).log()).sum().item<double>() / log_k;
  v.emplace_back("info_max", pixels_ ? entropy_of_mean - mean_entropy : kNaN);
  v.emplace_back("flip_agreement", agreement(flip_));
  v.emplace_back("dar_agreement", agreement(dar_));
  v.emplace_back("snd", snd_sample_.empty() ? kNaN
                                            : soft_neighbourhood_density(torch::cat(snd_sample_), options_.snd_temperature));
  double jaccard_sum = 0;
  int scored = 0;
  for (int c = 1; c < k_; ++c) {
    const double tp = tp_mass_[c].item<double>(), denominator = labelled_[c].item<double>() + true_mass_[c].item<double>() - tp;
    if (denominator <= 0) continue;  // neither labelled nor expected anywhere: no score, as in the metrics
    jaccard_sum += tp / denominator;
    ++scored;
  }
  v.emplace_back("expected_mjac", scored ? jaccard_sum / scored : kNaN);
  return v;
}

double soft_neighbourhood_density(const torch::Tensor& features, double temperature) {
  const auto f = torch::nn::functional::normalize(features.to(torch::kFloat32),
                                                  torch::nn::functional::NormalizeFuncOptions().dim(1));
  const int64_t n = f.size(0);
  if (n < 2) return kNaN;
  auto similarity = f.matmul(f.t()) / temperature;
  similarity.fill_diagonal_(-std::numeric_limits<float>::infinity());
  const auto log_p = torch::log_softmax(similarity, 1);
  const auto entropy = -(log_p.exp() * log_p.masked_fill(similarity.isinf(), 0)).sum(1);
  return entropy.mean().item<double>();
}

}  // namespace jcas
