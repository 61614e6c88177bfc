#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "pipeline/metrics/label_free_criteria.h"

using namespace jcas;

namespace {

std::map<std::string, double> values_of(const LabelFreeCriteria& c) {
  std::map<std::string, double> m;
  for (const auto& [k, v] : c.values()) m[k] = v;
  return m;
}

// K x H x W probabilities from the foreground probability map q (K = 2).
torch::Tensor binary(const torch::Tensor& q) { return torch::stack({1 - q, q}); }

}  // namespace

TEST(LabelFreeCriteria, EveryCriterionIsReportedOnceByName) {
  LabelFreeCriteria c(2, 1);
  c.add(0, binary(torch::full({4, 4}, 0.9)));
  const auto v = c.values();
  ASSERT_EQ(v.size(), label_free_criteria().size());
  for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(v[i].first, label_free_criteria()[i].name);
}

// A certain model that mirrors exactly: everything at its best, and no DAR read-out to compare.
TEST(LabelFreeCriteria, ACertainConsistentModelScoresItsBest) {
  auto q = torch::zeros({6, 8});
  q.narrow(0, 1, 3).narrow(1, 2, 4).fill_(1);  // symmetric under a left-right flip
  LabelFreeCriteria c(2, 2);
  for (int i = 0; i < 2; ++i) c.add(i, binary(q), binary(q.flip({1})));
  auto v = values_of(c);
  EXPECT_NEAR(v["certainty"], 1, 1e-9);
  EXPECT_NEAR(v["confidence"], 1, 1e-12);
  EXPECT_NEAR(v["flip_agreement"], 1, 1e-12);
  EXPECT_NEAR(v["expected_mjac"], 1, 1e-12);
  // info_max = H(mean p) / log 2 - 0, with 12 of the 48 pixels foreground.
  const double f = 12.0 / 48;
  EXPECT_NEAR(v["info_max"], -(f * std::log(f) + (1 - f) * std::log(1 - f)) / std::log(2.0), 1e-9);
  EXPECT_TRUE(std::isnan(v["dar_agreement"]));
}

// Uniform predictions: entropy 1, no information, and a mirror that labels differently.
TEST(LabelFreeCriteria, AUniformModelHasNoCertaintyAndNoInformation) {
  LabelFreeCriteria c(2, 1);
  auto mirrored = torch::zeros({4, 4});
  mirrored.narrow(1, 0, 2).fill_(1);  // its labels: foreground on half the pixels
  c.add(0, binary(torch::full({4, 4}, 0.5)), binary(mirrored));
  auto v = values_of(c);
  EXPECT_NEAR(v["certainty"], 0, 1e-9);
  EXPECT_NEAR(v["confidence"], 0.5, 1e-12);
  EXPECT_NEAR(v["info_max"], 0, 1e-9);
  // Ties go to class 0: the image's own labels have no foreground, the mirror's 8 pixels: no overlap.
  EXPECT_NEAR(v["flip_agreement"], 0, 1e-12);
  // Neither map with any foreground: they agree.
  LabelFreeCriteria empty(2, 1);
  empty.add(0, binary(torch::zeros({4, 4})), binary(torch::zeros({4, 4})));
  EXPECT_NEAR(values_of(empty)["flip_agreement"], 1, 1e-12);
}

// expected_mjac by hand: 4 pixels with foreground probabilities 0.9, 0.8, 0.3, 0.1. Labelled
// foreground: the first two; E[TP] = 1.7, E[|true|] = 2.1, so J = 1.7 / (2 + 2.1 - 1.7).
TEST(LabelFreeCriteria, ExpectedJaccardIsTheCalibratedExpectationOfTheOwnLabels) {
  LabelFreeCriteria c(2, 1);
  c.add(0, binary(torch::tensor({0.9, 0.8, 0.3, 0.1}, torch::kFloat64).reshape({2, 2})));
  EXPECT_NEAR(values_of(c)["expected_mjac"], 1.7 / (2 + 2.1 - 1.7), 1e-12);
}

// DAR agreement compares the softmax read-out's labels with the DAR read-out's.
TEST(LabelFreeCriteria, DarAgreementIsTheJaccardOfTheTwoReadouts) {
  auto dar = torch::zeros({2, 4});
  dar[0].fill_(1);  // DAR labels row 0 foreground (4 pixels)
  auto soft = torch::zeros({2, 4});
  soft[0].narrow(0, 0, 2).fill_(1);  // softmax labels 2 of them
  LabelFreeCriteria c(2, 1);
  c.add(0, binary(dar), {}, binary(soft));
  EXPECT_NEAR(values_of(c)["dar_agreement"], 0.5, 1e-12);
}

// SND against its formula written out: rows normalised, cosine / T with the diagonal left out,
// softmax per row, mean entropy.
TEST(LabelFreeCriteria, SoftNeighbourhoodDensityMatchesItsFormula) {
  torch::manual_seed(3);
  const auto f = torch::rand({7, 3}, torch::kFloat64);
  const double t = 0.05;
  double sum = 0;
  for (int i = 0; i < 7; ++i) {
    std::vector<double> s;
    double z = 0;
    for (int j = 0; j < 7; ++j) {
      if (j == i) continue;
      const double cosine = (f[i] * f[j]).sum().item<double>() / (f[i].norm().item<double>() * f[j].norm().item<double>());
      s.push_back(std::exp(cosine / t));
      z += s.back();
    }
    for (double e : s) sum -= e / z * std::log(e / z);
  }
  EXPECT_NEAR(soft_neighbourhood_density(f, t), sum / 7, 1e-4);
  // Identical rows: each row's neighbours are uniform, entropy log(N - 1).
  EXPECT_NEAR(soft_neighbourhood_density(torch::ones({5, 2}), t), std::log(4.0), 1e-5);
}

// The SND sample is drawn by image index: the same images give the same value in any order.
TEST(LabelFreeCriteria, TheValuesDoNotDependOnTheOrderImagesArrive) {
  torch::manual_seed(1);
  std::vector<torch::Tensor> q;
  for (int i = 0; i < 5; ++i) q.push_back(torch::rand({8, 8}, torch::kFloat64));
  LabelFreeCriteria forward(2, 5), backward(2, 5);
  for (int i = 0; i < 5; ++i) forward.add(i, binary(q[i]), binary(q[i].flip({1})));
  for (int i = 4; i >= 0; --i) backward.add(i, binary(q[i]), binary(q[i].flip({1})));
  const auto a = values_of(forward), b = values_of(backward);
  for (const auto& [k, v] : a)
    if (!std::isnan(v)) EXPECT_NEAR(v, b.at(k), 1e-6) << k;
}
