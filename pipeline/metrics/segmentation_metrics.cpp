#include "pipeline/metrics/segmentation_metrics.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <limits>
#include <stdexcept>

namespace jcas {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void check_values(const torch::Tensor& t, int k, const char* what) {
  auto bad = (t >= k) & (t != 255);
  if (bad.any().item<bool>()) {
    auto v = t.masked_select(bad)[0].item<int64_t>();
    throw std::invalid_argument(fmt::format("{} map holds value {} (classes are 0..{}, 255 = ignore)", what, v, k - 1));
  }
  if ((t < 0).any().item<bool>()) throw std::invalid_argument(fmt::format("{} map holds a negative value", what));
}

double mean_of_scored(const std::vector<double>& v) {
  double sum = 0;
  int n = 0;
  for (double x : v)
    if (!std::isnan(x)) sum += x, ++n;
  return n ? sum / n : kNaN;
}

}  // namespace

torch::Tensor label_confusion(const torch::Tensor& rows, const torch::Tensor& cols, int num_classes, const char* what) {
  if (rows.sizes() != cols.sizes())
    throw std::invalid_argument(fmt::format("{} maps differ in shape: [{}] vs [{}]", what,
                                            fmt::join(rows.sizes(), "x"), fmt::join(cols.sizes(), "x")));
  auto r = rows.reshape(-1).to(torch::kLong);
  auto c = cols.reshape(-1).to(torch::kLong);
  check_values(r, num_classes, what);
  check_values(c, num_classes, what);
  auto valid = (r != 255) & (c != 255);
  auto index = r.masked_select(valid) * num_classes + c.masked_select(valid);
  return torch::bincount(index, {}, int64_t(num_classes) * num_classes).to(torch::kLong).reshape({num_classes, num_classes});
}

SegmentationScore::SegmentationScore(int num_classes)
    : k_(num_classes),
      confusion_(torch::zeros({num_classes, num_classes}, torch::kLong)),
      dice_sum_(num_classes, 0.0),
      jaccard_sum_(num_classes, 0.0),
      present_(num_classes, 0) {
  if (num_classes < 2) throw std::invalid_argument("SegmentationScore needs at least 2 classes");
}

void SegmentationScore::add(const torch::Tensor& gt, const torch::Tensor& pred) {
  if (gt.sizes() != pred.sizes())
    throw std::invalid_argument(fmt::format("ground truth [{}] and prediction [{}] differ in shape",
                                            fmt::join(gt.sizes(), "x"), fmt::join(pred.sizes(), "x")));
  // A prediction is always a class; 255 there would silently drop the pixel from the scores.
  auto p = pred.reshape(-1).to(torch::kLong);
  if (((p < 0) | (p >= k_)).any().item<bool>())
    throw std::invalid_argument(fmt::format("prediction holds a value outside 0..{}", k_ - 1));
  auto conf = label_confusion(gt, pred, k_, "ground truth");
  confusion_ += conf;
  ++images_;
  auto a = conf.accessor<int64_t, 2>();
  for (int c = 1; c < k_; ++c) {
    int64_t tp = a[c][c], g = 0, q = 0;
    for (int j = 0; j < k_; ++j) g += a[c][j], q += a[j][c];
    if (g == 0) continue;  // class absent from this image's ground truth: not scored here
    dice_sum_[c] += 2.0 * tp / double(g + q);
    jaccard_sum_[c] += double(tp) / double(g + q - tp);
    ++present_[c];
  }
}

SegmentationReport SegmentationScore::report() const {
  SegmentationReport r;
  r.images = images_;
  r.confusion = confusion_.clone();
  auto a = confusion_.accessor<int64_t, 2>();
  for (int c = 1; c < k_; ++c) {
    r.images_with_class.push_back(present_[c]);
    r.dice.push_back(present_[c] ? dice_sum_[c] / present_[c] : kNaN);
    r.jaccard.push_back(present_[c] ? jaccard_sum_[c] / present_[c] : kNaN);
    int64_t tp = a[c][c], g = 0, q = 0;
    for (int j = 0; j < k_; ++j) g += a[c][j], q += a[j][c];
    r.global_dice.push_back(g ? 2.0 * tp / double(g + q) : kNaN);
    r.global_jaccard.push_back(g ? double(tp) / double(g + q - tp) : kNaN);
  }
  r.mean_dice = mean_of_scored(r.dice);
  r.mean_jaccard = mean_of_scored(r.jaccard);
  r.global_mean_dice = mean_of_scored(r.global_dice);
  r.global_mean_jaccard = mean_of_scored(r.global_jaccard);
  return r;
}

}  // namespace jcas
