#include <gtest/gtest.h>

#include <cmath>

#include "pipeline/metrics/segmentation_metrics.h"

using namespace jcas;

namespace {

torch::Tensor map(std::vector<std::vector<int>> rows) {
  auto t = torch::empty({int64_t(rows.size()), int64_t(rows[0].size())}, torch::kUInt8);
  for (size_t i = 0; i < rows.size(); ++i)
    for (size_t j = 0; j < rows[i].size(); ++j) t[i][j] = rows[i][j];
  return t;
}

}  // namespace

// Two images, K = 4. Class 2 is absent from image B's ground truth but predicted there; class 3
// is absent everywhere; one ground-truth pixel is 255 (predicted as 2, which must not count).
//   A: gt [1 1 0 0; 2 2 0 255]  pred [1 0 0 1; 2 0 0 2]
//      class 1: tp 1, |gt| 2, |pred| 2 -> Dice 1/2, Jac 1/3;  class 2: tp 1, 2, 1 -> Dice 2/3, Jac 1/2
//   B: gt [1 1 1 1; 0 0 0 0]    pred [1 1 1 1; 2 0 0 0]
//      class 1: Dice 1, Jac 1;  class 2 not in gt -> not scored on B
// Global: class 1: tp 5, |gt| 6, |pred| 6 -> Dice 5/6, Jac 5/7;  class 2: tp 1, 2, 2 -> Dice 1/2, Jac 1/3
TEST(SegmentationScore, PerImageAndGlobalProtocols) {
  SegmentationScore s(4);
  s.add(map({{1, 1, 0, 0}, {2, 2, 0, 255}}), map({{1, 0, 0, 1}, {2, 0, 0, 2}}));
  s.add(map({{1, 1, 1, 1}, {0, 0, 0, 0}}), map({{1, 1, 1, 1}, {2, 0, 0, 0}}));
  auto r = s.report();
  EXPECT_EQ(r.images, 2);
  ASSERT_EQ(r.dice.size(), 3u);
  EXPECT_DOUBLE_EQ(r.dice[0], (0.5 + 1.0) / 2);
  EXPECT_DOUBLE_EQ(r.jaccard[0], (1.0 / 3 + 1.0) / 2);
  EXPECT_DOUBLE_EQ(r.dice[1], 2.0 / 3);  // image B does not count for class 2...
  EXPECT_DOUBLE_EQ(r.jaccard[1], 0.5);
  EXPECT_DOUBLE_EQ(r.global_dice[0], 5.0 / 6);
  EXPECT_DOUBLE_EQ(r.global_jaccard[0], 5.0 / 7);
  EXPECT_DOUBLE_EQ(r.global_dice[1], 0.5);  // ...but its false positive counts globally
  EXPECT_DOUBLE_EQ(r.global_jaccard[1], 1.0 / 3);
  EXPECT_TRUE(std::isnan(r.dice[2]) && std::isnan(r.jaccard[2]));
  EXPECT_TRUE(std::isnan(r.global_dice[2]) && std::isnan(r.global_jaccard[2]));
  EXPECT_EQ(r.images_with_class, (std::vector<int64_t>{2, 1, 0}));
  EXPECT_DOUBLE_EQ(r.mean_dice, (0.75 + 2.0 / 3) / 2);  // class 3 left out
  EXPECT_DOUBLE_EQ(r.mean_jaccard, (2.0 / 3 + 0.5) / 2);
  EXPECT_DOUBLE_EQ(r.global_mean_dice, (5.0 / 6 + 0.5) / 2);
  EXPECT_DOUBLE_EQ(r.global_mean_jaccard, (5.0 / 7 + 1.0 / 3) / 2);
  // The ignore pixel is in no cell: 15 counted pixels.
  EXPECT_EQ(r.confusion.sum().item<int64_t>(), 15);
  EXPECT_EQ(r.confusion[2][2].item<int64_t>(), 1);
  EXPECT_EQ(r.confusion[0][2].item<int64_t>(), 1);
  EXPECT_EQ(r.confusion[1][0].item<int64_t>(), 1);
}

TEST(SegmentationScore, PerfectPredictionScoresOneAndEmptyScoresNaN) {
  SegmentationScore s(3);
  auto r0 = s.report();
  EXPECT_TRUE(std::isnan(r0.mean_dice));
  auto gt = torch::randint(0, 3, {10, 12}, torch::kUInt8);
  gt[0][0] = 255;
  auto pred = gt.clone();
  pred[0][0] = 1;
  s.add(gt, pred);
  auto r = s.report();
  for (double v : {r.mean_dice, r.mean_jaccard, r.global_mean_dice, r.global_mean_jaccard}) EXPECT_DOUBLE_EQ(v, 1.0);
}

TEST(SegmentationScore, RejectsBadInput) {
  SegmentationScore s(3);
  auto a = torch::zeros({4, 4}, torch::kUInt8);
  EXPECT_THROW(s.add(a, torch::zeros({4, 5}, torch::kUInt8)), std::invalid_argument);
  auto bad = a.clone();
  bad[1][1] = 3;
  EXPECT_THROW(s.add(bad, a), std::invalid_argument);
  EXPECT_THROW(s.add(a, bad), std::invalid_argument);
  bad[1][1] = 255;
  EXPECT_THROW(s.add(a, bad), std::invalid_argument);  // a prediction is always a class
  EXPECT_NO_THROW(s.add(bad, a));
}
