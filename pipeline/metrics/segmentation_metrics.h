#pragma once
// Dice and Jaccard of predicted label maps against ground truth (DESIGN §7).
//
// Two protocols, both over the foreground classes 1..K-1 (background 0 is not scored):
// - per image (the reference protocol): each class is scored on every image whose ground truth
//   contains it, and averaged over those images. A prediction of a class on an image whose ground
//   truth lacks it is not counted for that class (it lowers the other classes' scores only).
// - global: one score per class from the confusion summed over all images.
// Ground-truth pixels equal to 255 are ignored in both (whatever is predicted there).
// A class absent from the ground truth of every image has no score: NaN in both variants, and it
// is left out of the means. A mean over no scored class is NaN.
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace jcas {

struct SegmentationReport {
  // Per foreground class: index c-1 holds class c (c = 1..K-1).
  std::vector<double> dice, jaccard;                // per-image protocol
  std::vector<double> global_dice, global_jaccard;  // from the total confusion
  std::vector<int64_t> images_with_class;           // images whose ground truth contains class c
  double mean_dice = 0, mean_jaccard = 0, global_mean_dice = 0, global_mean_jaccard = 0;
  torch::Tensor confusion;  // K x K int64, rows = ground truth, columns = prediction
  int64_t images = 0;
};

class SegmentationScore {
 public:
  explicit SegmentationScore(int num_classes);
  // gt and pred: H x W integer maps of the same shape (uint8 expected). gt may hold 255 (ignored);
  // any other value >= K in gt or pred throws std::invalid_argument.
  void add(const torch::Tensor& gt, const torch::Tensor& pred);
  SegmentationReport report() const;
  int num_classes() const { return k_; }

 private:
  int k_;
  int64_t images_ = 0;
  torch::Tensor confusion_;                     // K x K int64
  std::vector<double> dice_sum_, jaccard_sum_;  // per class, over images where it is present
  std::vector<int64_t> present_;
};

// Confusion of one pair of label maps (K x K int64, rows = first argument), skipping pixels where
// either map is 255. Values >= K other than 255 throw std::invalid_argument naming `what`.
torch::Tensor label_confusion(const torch::Tensor& rows, const torch::Tensor& cols, int num_classes,
                              const char* what = "label");

}  // namespace jcas
