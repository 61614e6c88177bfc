#include <gtest/gtest.h>

#include <cmath>

#include "adapters/foundation/error.h"
#include "pipeline/method/ntm_estimators.h"
#include "pipeline/metrics/label_noise_stats.h"

using namespace jcas;

namespace {

// A known T_C (rows clean, columns noisy), diagonally dominant as the estimators assume.
torch::Tensor true_ntm() {
  return torch::tensor({0.85, 0.05, 0.05, 0.05,  //
                        0.10, 0.75, 0.10, 0.05,  //
                        0.05, 0.15, 0.70, 0.10,  //
                        0.10, 0.05, 0.10, 0.75},
                       torch::kFloat64)
      .reshape({4, 4});
}

struct Synthetic {
  torch::Tensor clean, noisy, probs;
};

// Clean labels from an imbalanced class distribution; noisy labels sampled from the T_C row of
// the clean class; probs = the noisy posterior of a calibrated model, p_clean · T_C, where p_clean
// is sharp around the clean class: (1 − ε)·onehot + ε·(random distribution), ε ~ U(0, 0.3).
Synthetic make_synthetic(int64_t n, uint64_t seed,
                         const torch::Tensor& dist = torch::tensor({0.5, 0.25, 0.1, 0.15}, torch::kFloat64)) {
  torch::manual_seed(seed);
  auto t = true_ntm();
  auto clean = torch::multinomial(dist, n, true);
  auto noisy = torch::multinomial(t.index_select(0, clean), 1, true).squeeze(1);
  auto eps = torch::rand({n, 1}, torch::kFloat64) * 0.3;
  auto other = torch::softmax(torch::randn({n, 4}, torch::kFloat64), 1);
  auto p_clean = (1 - eps) * torch::one_hot(clean, 4).to(torch::kFloat64) + eps * other;
  auto probs = p_clean.matmul(t).to(torch::kFloat32);
  // A few ignored pixels: they must not influence any estimate.
  auto ignore = torch::rand({n}) < 0.02;
  noisy.masked_fill_(ignore, 255);
  return {clean.to(torch::kUInt8), noisy.to(torch::kUInt8), probs};
}

void expect_row_stochastic(const torch::Tensor& t, int k) {
  ASSERT_EQ(t.sizes().vec(), (std::vector<int64_t>{k, k}));
  EXPECT_EQ(t.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::allclose(t.sum(1), torch::ones({k}), 0, 1e-5)) << t;
  EXPECT_GE(t.min().item<float>(), 0.f);
}

}  // namespace

TEST(NtmEstimators, OracleIsTheEmpiricalConfusionExactly) {
  auto s = make_synthetic(100000, 1);
  auto est = estimate_class_ntm("oracle", s.probs, s.noisy, s.clean, 4);
  expect_row_stochastic(est, 4);
  LabelNoiseStats stats(4);
  stats.add(s.clean, s.noisy);
  EXPECT_TRUE(torch::equal(est, stats.class_ntm().to(torch::kFloat32)));
  // Sampling error only: 100k pixels put it within ~1% of the true T_C.
  double err = ntm_estimation_error(est, true_ntm());
  std::printf("oracle error vs true T_C: %.4f\n", err);
  EXPECT_LT(err, 0.03);
  EXPECT_THROW(estimate_class_ntm("oracle", s.probs, s.noisy, {}, 4), UserError);
}

TEST(NtmEstimators, ConfidentJointRecoversKnownNtm) {
  auto s = make_synthetic(200000, 2);
  auto est = estimate_class_ntm("confident", s.probs, s.noisy, {}, 4);
  expect_row_stochastic(est, 4);
  double err = ntm_estimation_error(est, true_ntm());
  double identity_err = ntm_estimation_error(estimate_class_ntm("identity", s.probs, s.noisy, {}, 4), true_ntm());
  std::printf("confident error: %.4f (identity prior: %.4f)\n", err, identity_err);
  EXPECT_LT(err, 0.05);
  EXPECT_LT(err, identity_err / 3);
}

TEST(NtmEstimators, AnchorPointsRecoverKnownNtm) {
  auto s = make_synthetic(200000, 3);
  auto est = estimate_class_ntm("anchor", s.probs, s.noisy, {}, 4, 0.97);
  expect_row_stochastic(est, 4);
  double err = ntm_estimation_error(est, true_ntm());
  std::printf("anchor error: %.4f\n", err);
  EXPECT_LT(err, 0.05);
  // Without labels at all the anchors are the same pixels up to the ignored ones.
  auto unlabeled = estimate_class_ntm("anchor", s.probs, torch::Tensor(), {}, 4, 0.97);
  EXPECT_LT(ntm_estimation_error(unlabeled, est), 0.01);
  // The lower the quantile, the more mixed the anchors: error grows.
  auto loose = estimate_class_ntm("anchor", s.probs, s.noisy, {}, 4, 0.5);
  EXPECT_GT(ntm_estimation_error(loose, true_ntm()), err);
}

// A class on 1.5 % of the pixels: the global 0.97 quantile of its probability also takes other
// classes' pixels, the per-class quantile does not.
TEST(NtmEstimators, ClassAnchorsIsolateARareClass) {
  auto s = make_synthetic(200000, 5, torch::tensor({0.6, 0.3, 0.085, 0.015}, torch::kFloat64));
  auto global = estimate_class_ntm("anchor", s.probs, s.noisy, {}, 4, 0.97);
  auto per_class = estimate_class_ntm("class_anchor", s.probs, s.noisy, {}, 4, 0.97);
  expect_row_stochastic(per_class, 4);
  auto row_error = [](const torch::Tensor& t) { return (t[3].to(torch::kFloat64) - true_ntm()[3]).abs().sum().item<double>(); };
  std::printf("rare class row error: anchor %.4f, class_anchor %.4f\n", row_error(global), row_error(per_class));
  EXPECT_LT(row_error(per_class), 0.05);
  EXPECT_GT(row_error(global), 2 * row_error(per_class));
  EXPECT_LT(ntm_estimation_error(per_class, true_ntm()), 0.05);
  // Without labels the groups are the argmax classes.
  auto unlabeled = estimate_class_ntm("class_anchor", s.probs, torch::Tensor(), {}, 4, 0.97);
  expect_row_stochastic(unlabeled, 4);
  EXPECT_LT(ntm_estimation_error(unlabeled, true_ntm()), 0.1);
}

// Pseudo labels: the argmax of a calibrated model (the clean label is drawn from its posterior).
// The posterior estimate is then the expected confusion, so it matches the empirical one up to
// sampling; the anchors, reading the probabilities as a noisy posterior, stay near the identity.
TEST(NtmEstimators, PosteriorRecoversTheConfusionOfACalibratedModelsOwnLabels) {
  torch::manual_seed(7);
  const int64_t n = 200000;
  auto logits = torch::randn({n, 3}, torch::kFloat64) * 1.5 + torch::tensor({1.0, 0.0, -0.5}, torch::kFloat64);
  auto probs = torch::softmax(logits, 1);
  auto clean = torch::multinomial(probs, 1, true).squeeze(1);
  auto noisy = probs.argmax(1);
  LabelNoiseStats stats(3);
  stats.add(clean, noisy);
  auto truth = stats.class_ntm();
  auto est = estimate_class_ntm("posterior", probs.to(torch::kFloat32), noisy, {}, 3);
  expect_row_stochastic(est, 3);
  const double err = ntm_estimation_error(est, truth), anchor_err =
      ntm_estimation_error(estimate_class_ntm("anchor", probs.to(torch::kFloat32), noisy, {}, 3), truth);
  std::printf("posterior error: %.4f (anchor: %.4f, truth's distance from I: %.4f)\n", err, anchor_err,
              ntm_estimation_error(torch::eye(3), truth));
  EXPECT_LT(err, 0.01);
  EXPECT_GT(anchor_err, 0.2);
  // Exact on a hand-made case: pixels (p0, p1) labelled 0, 0, 1.
  auto p = torch::tensor({0.9, 0.1, 0.6, 0.4, 0.2, 0.8}, torch::kFloat32).reshape({3, 2});
  auto hand = estimate_class_ntm("posterior", p, torch::tensor({0, 0, 1}), {}, 2);
  EXPECT_TRUE(torch::allclose(hand, torch::tensor({1.5 / 1.7, 0.2 / 1.7, 0.5 / 1.3, 0.8 / 1.3}, torch::kFloat32)
                                        .reshape({2, 2}), 0, 1e-6)) << hand;
}

TEST(NtmEstimators, EstimatorsIgnoreIgnoredPixels) {
  auto s = make_synthetic(50000, 4);
  // Garbage probabilities on ignored pixels must change nothing.
  auto ignore = (s.noisy == 255).unsqueeze(1);
  auto garbage = torch::where(ignore, torch::tensor({0.0f, 0.0f, 0.0f, 1.0f}).expand_as(s.probs), s.probs);
  for (const std::string m : {"confident", "anchor", "class_anchor", "posterior", "oracle"}) {
    auto a = estimate_class_ntm(m, s.probs, s.noisy, s.clean, 4);
    auto b = estimate_class_ntm(m, garbage, s.noisy, s.clean, 4);
    EXPECT_TRUE(torch::allclose(a, b, 0, 1e-6)) << m;
  }
}

TEST(NtmEstimators, IdentityIsTheInitialisationPrior) {
  auto t = estimate_class_ntm("identity", {}, {}, {}, 4);
  expect_row_stochastic(t, 4);
  // rownormalize(I + σ(−2)(1 − I)): diagonal ≈ 0.74 for K = 4 (DESIGN §3.1).
  auto w = torch::full({4, 4}, -2.0, torch::kFloat64);
  auto eye = torch::eye(4, torch::kFloat64);
  auto m = eye + torch::sigmoid(w) * (1 - eye);
  auto expected = m / m.sum(1, true);
  EXPECT_TRUE(torch::allclose(t.to(torch::kFloat64), expected, 0, 1e-7));
  EXPECT_NEAR(t[0][0].item<double>(), 0.7366, 1e-4);
  auto t2 = estimate_class_ntm("identity", {}, {}, {}, 2);
  EXPECT_NEAR(t2[0][0].item<double>(), 0.8935, 1e-4);
}

TEST(NtmEstimators, RejectsUnknownMethodAndBadShapes) {
  auto s = make_synthetic(100, 5);
  EXPECT_THROW(estimate_class_ntm("volmin", s.probs, s.noisy, {}, 4), UserError);
  EXPECT_THROW(estimate_class_ntm("confident", s.probs, s.noisy.slice(0, 0, 50), {}, 4), std::invalid_argument);
  EXPECT_THROW(estimate_class_ntm("confident", s.probs, s.noisy, {}, 3), std::invalid_argument);
}

TEST(NtmEstimators, EstimationErrorIsMeanRowL1) {
  auto a = torch::eye(2);
  auto b = torch::tensor({0.5f, 0.5f, 0.0f, 1.0f}).reshape({2, 2});
  EXPECT_DOUBLE_EQ(ntm_estimation_error(a, b), 1.0 / 2);
  EXPECT_DOUBLE_EQ(ntm_estimation_error(a, a), 0.0);
  EXPECT_THROW(ntm_estimation_error(a, torch::eye(3)), std::invalid_argument);
}

TEST(NtmEstimators, ClassWithoutEvidenceGetsAnIdentityRow) {
  auto s = make_synthetic(20000, 6);
  // Nobody is labelled 3: its threshold is infinite, no pixel is confidently 3, its row is identity.
  auto noisy = s.noisy.masked_fill(s.noisy == 3, 255);
  auto est = estimate_class_ntm("confident", s.probs, noisy, {}, 4);
  expect_row_stochastic(est, 4);
  EXPECT_TRUE(torch::equal(est[3], torch::tensor({0.f, 0.f, 0.f, 1.f})));
  EXPECT_TRUE(torch::allclose(est.select(1, 3).slice(0, 0, 3), torch::zeros({3})));
  // Everything ignored: no evidence for any row.
  auto all_ignored = torch::full_like(s.noisy, 255);
  for (const std::string m : {"confident", "anchor"})
    EXPECT_TRUE(torch::equal(estimate_class_ntm(m, s.probs, all_ignored, {}, 4), torch::eye(4))) << m;
}

TEST(NtmEstimators, Registry) {
  EXPECT_EQ(ntm_estimator_names(), (std::vector<std::string>{"confident", "anchor", "class_anchor", "posterior", "oracle", "identity"}));
  for (const auto& e : ntm_estimators()) EXPECT_EQ(e.needs_clean_labels, e.name == "oracle") << e.name;
  EXPECT_THROW(ntm_estimator("psychic"), UserError);
}
