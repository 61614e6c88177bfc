#include <gtest/gtest.h>

#include "pipeline/metrics/label_noise_stats.h"

using namespace jcas;

namespace {

torch::Tensor map3(std::initializer_list<int> v) { return torch::tensor(std::vector<int>(v), torch::kInt32).to(torch::kUInt8).reshape({3, 3}); }

// Brute force over all ordered pixel pairs (self-pairs included) of pixels valid in both maps.
torch::Tensor brute_force_pairs(const torch::Tensor& clean, const torch::Tensor& noisy) {
  auto c = clean.reshape(-1).to(torch::kLong), n = noisy.reshape(-1).to(torch::kLong);
  auto ca = c.accessor<int64_t, 1>(), na = n.accessor<int64_t, 1>();
  auto counts = torch::zeros({2, 2}, torch::kLong);
  auto a = counts.accessor<int64_t, 2>();
  for (int64_t i = 0; i < c.numel(); ++i) {
    if (ca[i] == 255 || na[i] == 255) continue;
    for (int64_t j = 0; j < c.numel(); ++j) {
      if (ca[j] == 255 || na[j] == 255) continue;
      ++a[ca[i] == ca[j]][na[i] == na[j]];
    }
  }
  return counts;
}

}  // namespace

// DESIGN §3.2: the paper's slide example, exactly.
TEST(LabelNoiseStats, SlideExample) {
  LabelNoiseStats s(4);
  auto img = s.add(map3({0, 0, 1, 1, 2, 2, 3, 3, 0}), map3({0, 1, 1, 2, 2, 3, 3, 0, 0}));
  for (const auto& r : {img, s.report()}) {
    EXPECT_EQ(r.pixels, 9);
    EXPECT_EQ(r.flipped_pixels, 4);
    EXPECT_DOUBLE_EQ(r.class_noise_rate, 4.0 / 9);
    EXPECT_EQ(r.pairs, 81);
    EXPECT_EQ(r.flipped_pairs, 20);
    EXPECT_DOUBLE_EQ(r.affinity_noise_rate, 20.0 / 81);
    auto expected = torch::tensor({50.0 / 60, 10.0 / 60, 10.0 / 21, 11.0 / 21}, torch::kFloat64).reshape({2, 2});
    EXPECT_TRUE(torch::allclose(r.affinity_ntm, expected, 0, 1e-15)) << r.affinity_ntm;
    EXPECT_TRUE(torch::equal(r.affinity_pairs, torch::tensor({50, 10, 10, 11}, torch::kLong).reshape({2, 2})));
    // Class NTM rows: clean 0 -> {0: 2, 1: 1}, 1 -> {1, 2}, 2 -> {2, 3}, 3 -> {3, 0}.
    auto t = torch::tensor({2.0 / 3, 1.0 / 3, 0., 0., 0., .5, .5, 0., 0., 0., .5, .5, .5, 0., 0., .5}, torch::kFloat64)
                 .reshape({4, 4});
    EXPECT_TRUE(torch::allclose(r.class_ntm, t, 0, 1e-15)) << r.class_ntm;
    EXPECT_EQ(r.class_dist_clean, (std::vector<double>{3.0 / 9, 2.0 / 9, 2.0 / 9, 2.0 / 9}));
    EXPECT_EQ(r.class_dist_noisy, (std::vector<double>{3.0 / 9, 2.0 / 9, 2.0 / 9, 2.0 / 9}));
  }
  EXPECT_DOUBLE_EQ(s.class_noise_rate(), 4.0 / 9);
  EXPECT_DOUBLE_EQ(s.affinity_noise_rate(), 20.0 / 81);
}

TEST(LabelNoiseStats, JointCountsEqualBruteForcePairCounting) {
  torch::manual_seed(7);
  for (int trial = 0; trial < 20; ++trial) {
    const int k = 2 + trial % 4;
    const int64_t h = 3 + trial % 5, w = 4 + trial % 7;
    auto clean = torch::randint(0, k, {h, w}, torch::kUInt8);
    auto noisy = torch::where(torch::rand({h, w}) < 0.3, torch::randint(0, k, {h, w}, torch::kUInt8), clean);
    clean.masked_fill_(torch::rand({h, w}) < 0.1, 255);
    noisy.masked_fill_(torch::rand({h, w}) < 0.1, 255);
    LabelNoiseStats s(k);
    auto r = s.add(clean, noisy);
    auto brute = brute_force_pairs(clean, noisy);
    EXPECT_TRUE(torch::equal(r.affinity_pairs, brute)) << "trial " << trial << "\n" << r.affinity_pairs << "\n" << brute;
    EXPECT_EQ(r.flipped_pairs, (brute[0][1] + brute[1][0]).item<int64_t>());
    auto valid = (clean != 255) & (noisy != 255);
    EXPECT_EQ(r.pixels, valid.sum().item<int64_t>());
    EXPECT_EQ(r.flipped_pixels, (valid & (clean != noisy)).sum().item<int64_t>());
  }
}

TEST(LabelNoiseStats, DatasetRatesAreTotalsNotMeansOfImageRates) {
  LabelNoiseStats s(2);
  // Image 1: 1 pixel, flipped (rate 1). Image 2: 4 pixels, none flipped (rate 0).
  auto r1 = s.add(torch::zeros({1, 1}, torch::kUInt8), torch::ones({1, 1}, torch::kUInt8));
  auto r2 = s.add(torch::zeros({2, 2}, torch::kUInt8), torch::zeros({2, 2}, torch::kUInt8));
  EXPECT_DOUBLE_EQ(r1.class_noise_rate, 1.0);
  EXPECT_DOUBLE_EQ(r2.class_noise_rate, 0.0);
  auto r = s.report();
  EXPECT_EQ(r.images, 2);
  EXPECT_DOUBLE_EQ(r.class_noise_rate, 1.0 / 5);  // not (1 + 0) / 2
  // A single pixel has one (self) pair, never flipped; image 2 has 16 similar pairs.
  EXPECT_EQ(r.pairs, 17);
  EXPECT_EQ(r.flipped_pairs, 0);
  EXPECT_DOUBLE_EQ(r.affinity_noise_rate, 0.0);
  // Class 1 never appears in the clean labels: its row is an identity row.
  EXPECT_TRUE(torch::equal(r.class_ntm, torch::tensor({0.8, 0.2, 0.0, 1.0}, torch::kFloat64).reshape({2, 2})));
  // No dissimilar clean pairs at all: identity row 0 of T_A.
  EXPECT_TRUE(torch::equal(r.affinity_ntm, torch::eye(2, torch::kFloat64)));
  EXPECT_TRUE(torch::allclose(s.class_dist_noisy(), torch::tensor({0.8, 0.2}, torch::kFloat64)));
}

TEST(LabelNoiseStats, IgnoresPixelsIgnoredInEitherMapAndRejectsBadValues) {
  LabelNoiseStats s(3);
  auto clean = map3({0, 1, 2, 255, 1, 2, 0, 0, 0});
  auto noisy = map3({0, 2, 255, 1, 1, 2, 0, 0, 1});
  auto r = s.add(clean, noisy);
  EXPECT_EQ(r.pixels, 7);
  EXPECT_EQ(r.flipped_pixels, 2);
  EXPECT_THROW(s.add(map3({0, 0, 0, 0, 3, 0, 0, 0, 0}), noisy), std::invalid_argument);
  EXPECT_THROW(s.add(clean, torch::zeros({3, 4}, torch::kUInt8)), std::invalid_argument);
}
