#include "tools/report/label_panels.h"

#include <fmt/format.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "adapters/io/segmentation_dataset.h"
#include "adapters/foundation/error.h"

namespace jcas {
namespace {

constexpr int kScale = 2;      // small synthetic images are hard to read at 1:1
constexpr int kTitle = 22;     // pixels above each tile for its caption
constexpr int kGap = 6;

cv::Mat tile(const cv::Mat& bgr, const std::string& caption) {
  cv::Mat big;
  cv::resize(bgr, big, {}, kScale, kScale, cv::INTER_NEAREST);
  cv::Mat out(big.rows + kTitle, big.cols, CV_8UC3, cv::Scalar(255, 255, 255));
  big.copyTo(out(cv::Rect(0, kTitle, big.cols, big.rows)));
  cv::putText(out, caption, {4, kTitle - 6}, cv::FONT_HERSHEY_SIMPLEX, 0.45, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
  return out;
}

// Changed pixels in red over a grey copy of the newer labels' structure.
cv::Mat change_map(const torch::Tensor& before, const torch::Tensor& after) {
  auto changed = before.ne(after).to(torch::kUInt8).contiguous();
  cv::Mat m(static_cast<int>(changed.size(0)), static_cast<int>(changed.size(1)), CV_8UC1, changed.data_ptr<uint8_t>());
  cv::Mat out(m.size(), CV_8UC3, cv::Scalar(40, 40, 40));
  out.setTo(cv::Scalar(0, 0, 255), m);
  return out;
}

cv::Mat legend(const std::vector<std::string>& class_names, int width) {
  cv::Mat out(28, std::max(width, 120 * static_cast<int>(class_names.size() + 1)), CV_8UC3, cv::Scalar(255, 255, 255));
  int x = 4;
  auto entry = [&](cv::Scalar color, const std::string& name) {
    cv::rectangle(out, cv::Rect(x, 7, 14, 14), color, cv::FILLED);
    cv::rectangle(out, cv::Rect(x, 7, 14, 14), cv::Scalar(0, 0, 0), 1);
    cv::putText(out, name, {x + 20, 19}, cv::FONT_HERSHEY_SIMPLEX, 0.45, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
    x += 120;
  };
  for (size_t c = 0; c < class_names.size(); ++c) {
    auto p = palette_color(static_cast<int>(c));
    entry(cv::Scalar(p[0], p[1], p[2]), class_names[c]);
  }
  entry(cv::Scalar(0, 0, 255), "changed");
  return out;
}

cv::Mat hconcat_tiles(const std::vector<cv::Mat>& tiles) {
  int w = 0, h = 0;
  for (const auto& t : tiles) {
    w += t.cols + kGap;
    h = std::max(h, t.rows);
  }
  cv::Mat out(h, w - kGap, CV_8UC3, cv::Scalar(255, 255, 255));
  int x = 0;
  for (const auto& t : tiles) {
    t.copyTo(out(cv::Rect(x, 0, t.cols, t.rows)));
    x += t.cols + kGap;
  }
  return out;
}

}  // namespace

std::vector<std::string> images_with_largest_change(const RoundComparison& cmp, const std::vector<torch::Tensor>& truth,
                                                    size_t count) {
  std::vector<std::pair<double, size_t>> scored;
  if (cmp.labels.empty()) return {};
  const auto& first = cmp.labels.begin()->second;
  const auto& last = cmp.labels.rbegin()->second;
  for (int64_t i = 0; i < first.size(0); ++i) {
    double score = 0;
    if (cmp.labels.size() > 1)
      score = first[i].ne(last[i]).sum().item<double>();
    else if (!truth.empty())
      score = first[i].ne(truth[static_cast<size_t>(i)]).sum().item<double>();
    scored.emplace_back(-score, static_cast<size_t>(i));
  }
  std::stable_sort(scored.begin(), scored.end());
  std::vector<std::string> out;
  for (size_t i = 0; i < std::min(count, scored.size()); ++i) out.push_back(cmp.image_names[scored[i].second]);
  return out;
}

std::vector<std::filesystem::path> write_label_panels(const RoundComparison& cmp, const SegmentationDataset& images,
                                                      const std::vector<std::string>& names,
                                                      const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  std::vector<std::filesystem::path> written;
  for (const auto& name : names) {
    auto it = std::find(cmp.image_names.begin(), cmp.image_names.end(), name);
    if (it == cmp.image_names.end())
      throw UserError(fmt::format("--images: '{}' is not a pseudo-labelled target image", name));
    const auto index = static_cast<size_t>(it - cmp.image_names.begin());
    Sample sample = images.get(index);
    std::vector<cv::Mat> tiles{tile(tensor_to_image(sample.image), "image")};
    if (sample.label.defined()) tiles.push_back(tile(label_to_color(sample.label), "ground truth"));
    const torch::Tensor* previous = nullptr;
    int previous_round = -1;
    for (const auto& [round, labels] : cmp.labels) {
      torch::Tensor current = labels[static_cast<int64_t>(index)];
      tiles.push_back(tile(label_to_color(current), fmt::format("round {}", round)));
      if (previous && previous_round == round - 1)
        tiles.push_back(tile(change_map((*previous)[static_cast<int64_t>(index)], current),
                             fmt::format("changed {}->{}", round - 1, round)));
      previous = &labels;
      previous_round = round;
    }
    cv::Mat row = hconcat_tiles(tiles);
    cv::Mat key = legend(cmp.class_names, row.cols);
    cv::Mat panel(row.rows + key.rows, std::max(row.cols, key.cols), CV_8UC3, cv::Scalar(255, 255, 255));
    row.copyTo(panel(cv::Rect(0, 0, row.cols, row.rows)));
    key.copyTo(panel(cv::Rect(0, row.rows, key.cols, key.rows)));
    // Names may hold sub-folders (seq_1/frame000): they stay distinct in the flat panel folder.
    std::string stem = std::filesystem::path(name).replace_extension("").generic_string();
    std::replace(stem.begin(), stem.end(), '/', '_');
    auto file = dir / fmt::format("panel_{}.png", stem);
    if (!cv::imwrite(file.string(), panel)) throw UserError(fmt::format("cannot write {}", file.string()));
    written.push_back(file);
  }
  return written;
}

}  // namespace jcas
