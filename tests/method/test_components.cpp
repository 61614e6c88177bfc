// Unit tests of the method's parts: class->affinity closed form, DAR forms, dense vs tiled affinity
// loss, NTM parameterisation, ablation switches and baselines.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <vector>

#include "adapters/foundation/error.h"
#include "pipeline/method/affinity_loss.h"
#include "pipeline/method/class_loss.h"
#include "pipeline/method/class_to_affinity.h"
#include "pipeline/method/cross_entropy_loss.h"
#include "pipeline/method/dar.h"
#include "pipeline/method/dense_affinity_branch.h"
#include "pipeline/method/inference_mode.h"
#include "pipeline/method/jcas_loss.h"
#include "pipeline/method/ntm.h"

namespace {

namespace F = torch::nn::functional;

double rel(const torch::Tensor& a, const torch::Tensor& b) {
  auto x = a.detach().to(torch::kFloat64), y = b.detach().to(torch::kFloat64);
  return (x - y).norm().item<double>() / std::max(y.norm().item<double>(), 1e-12);
}

// Empirical class NTM (rows clean, columns noisy) and clean class proportions of one label-map pair.
std::pair<torch::Tensor, torch::Tensor> empirical(const torch::Tensor& clean, const torch::Tensor& noisy, int64_t K) {
  auto joint = torch::zeros({K, K}, torch::kFloat64);
  auto c = clean.flatten(), n = noisy.flatten();
  for (int64_t i = 0; i < c.numel(); ++i) joint[c[i].item<int64_t>()][n[i].item<int64_t>()] += 1;
  auto rows = joint.sum(1, true);
  return {joint / rows, rows.squeeze(1) / c.numel()};
}

// T_A by enumerating every ordered pixel pair (self-pairs included); index 0 = dissimilar.
torch::Tensor brute_force_affinity_ntm(const torch::Tensor& clean, const torch::Tensor& noisy) {
  auto c = clean.flatten().to(torch::kLong), n = noisy.flatten().to(torch::kLong);
  const auto* cp = c.data_ptr<int64_t>();
  const auto* np = n.data_ptr<int64_t>();
  double counts[2][2] = {{0, 0}, {0, 0}};
  for (int64_t a = 0; a < c.numel(); ++a)
    for (int64_t b = 0; b < c.numel(); ++b) counts[cp[a] == cp[b]][np[a] == np[b]] += 1;
  auto t = torch::zeros({2, 2}, torch::kFloat64);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j) t[i][j] = counts[i][j] / (counts[i][0] + counts[i][1]);
  return t;
}

TEST(ClassToAffinity, EqualsBruteForcePairCounting) {
  torch::manual_seed(3);
  const int64_t K = 4;
  auto clean = torch::randint(0, K, {13, 11}, torch::kLong);
  auto flip = torch::rand({13, 11}) < 0.3;
  auto noisy = torch::where(flip, torch::randint(0, K, {13, 11}, torch::kLong), clean);
  auto [tc, dist] = empirical(clean, noisy, K);
  auto closed = jcas::class_to_affinity(tc, dist);
  auto brute = brute_force_affinity_ntm(clean, noisy);
  EXPECT_LT((closed - brute).abs().max().item<double>(), 1e-12) << closed << brute;
  // The reference order is the index-reversed matrix.
  EXPECT_TRUE(torch::equal(jcas::class_to_affinity_reference_order(tc, dist), closed.flip({0, 1})));
}

TEST(ClassToAffinity, SlideExample) {
  auto clean = torch::tensor({0, 0, 1, 1, 2, 2, 3, 3, 0}, torch::kLong).reshape({3, 3});
  auto noisy = torch::tensor({0, 1, 1, 2, 2, 3, 3, 0, 0}, torch::kLong).reshape({3, 3});
  auto [tc, dist] = empirical(clean, noisy, 4);
  auto expected = torch::tensor({50.0 / 60, 10.0 / 60, 10.0 / 21, 11.0 / 21}, torch::kFloat64).reshape({2, 2});
  EXPECT_LT((jcas::class_to_affinity(tc, dist) - expected).abs().max().item<double>(), 1e-12);
  EXPECT_LT((brute_force_affinity_ntm(clean, noisy) - expected).abs().max().item<double>(), 1e-12);
  // Class noise 4/9 of the pixels.
  EXPECT_EQ((clean != noisy).sum().item<int64_t>(), 4);
}

TEST(ClassToAffinity, DifferentiableInClassNtm) {
  auto tc = torch::tensor({0.8, 0.2, 0.1, 0.9}, torch::kFloat64).reshape({2, 2}).requires_grad_(true);
  auto dist = torch::tensor({0.6, 0.4}, torch::kFloat64);
  jcas::class_to_affinity(tc, dist)[0][1].backward();
  ASSERT_TRUE(tc.grad().defined());
  EXPECT_GT(tc.grad().abs().sum().item<double>(), 0);
  EXPECT_THROW(jcas::class_to_affinity(tc, torch::ones({3}, torch::kFloat64)), std::invalid_argument);
}

TEST(Ntm, DefaultInitMatchesReference) {
  jcas::LearnableNTM c(4), a(2);
  auto tc = c->matrix(), ta = a->matrix();
  const double s = 1 / (1 + std::exp(2.0));
  EXPECT_NEAR(tc[0][0].item<double>(), 1 / (1 + 3 * s), 1e-6);
  EXPECT_NEAR(ta[1][1].item<double>(), 1 / (1 + s), 1e-6);
  EXPECT_LT((tc.sum(1) - 1).abs().max().item<double>(), 1e-6);
}

TEST(Ntm, InitFromReproducesMatrix) {
  torch::manual_seed(5);
  auto off = torch::rand({4, 4}) * 0.2;
  auto t = off + torch::eye(4) * 0.6;
  t[2][3] = 0;  // an exact zero is reproduced up to the clamp (1e-7 · T_ii)
  t = t / t.sum(1, true);
  jcas::LearnableNTM ntm(4);
  ntm->init_from(t);
  EXPECT_LT((ntm->matrix() - t).abs().max().item<double>(), 1e-6);
  // The diagonal logit is unused: the gradient never reaches it.
  ntm->matrix().pow(2).sum().backward();
  EXPECT_EQ(ntm->weight().grad().diagonal().abs().sum().item<double>(), 0);
  EXPECT_GT(ntm->weight().grad().abs().sum().item<double>(), 0);
  EXPECT_THROW(ntm->init_from(torch::eye(3)), std::invalid_argument);
}

// Embeddings with many exact zeros after the ReLU: disjoint supports give A = 0 (clamped to 1e-10),
// and pixel 0 is all-negative (zero embedding).
torch::Tensor sparse_features(int64_t B, int64_t d, int64_t h, int64_t w) {
  auto f = torch::randn({B, d, h, w}) - 1.0;
  f.select(2, 0).select(2, 0).fill_(-1);
  return f;
}

// DAR written out as the reference computes it: two L1 row normalisations and two N×N products
// (B = 2, K = 3, a 5×7 grid). The complement normalises 1 − Â (the reference) or 1 − A (the option).
torch::Tensor dar_formula(const torch::Tensor& feat, const torch::Tensor& logits, jcas::DarComplement c) {
  auto a = jcas::affinity_matrix(jcas::normalized_embeddings(feat, 5, 7));
  auto ahat = F::normalize(a, F::NormalizeFuncOptions().p(1).dim(2));
  auto neg = F::normalize(1 - (c == jcas::DarComplement::normalised ? ahat : a), F::NormalizeFuncOptions().p(1).dim(2));
  auto rows = logits.permute({0, 2, 3, 1}).reshape({2, 35, 3});
  auto back = [&](const torch::Tensor& r) { return r.reshape({2, 5, 7, 3}).permute({0, 3, 1, 2}); };
  return ((logits + back(torch::bmm(ahat, rows))) + (logits - back(torch::bmm(neg, rows)))) / 2;
}

// The dense form (one product, no N×N normalisation) and the low-rank form (never forming A) against
// the formula, values and gradients, for both complements, with clamped affinities and without.
TEST(Dar, DenseAndLowRankEqualTheFormula) {
  torch::manual_seed(7);
  for (auto c : {jcas::DarComplement::normalised, jcas::DarComplement::affinity}) {
    for (double shift : {0.0, 1.0}) {
      auto feat = (sparse_features(2, 6, 5, 7) + shift).requires_grad_(true);
      auto logits = torch::randn({2, 3, 5, 7}).requires_grad_(true);
      auto a = jcas::affinity_matrix(jcas::normalized_embeddings(feat, 5, 7));
      if (shift == 0) ASSERT_GT((a == 1e-10f).sum().item<int64_t>(), 0) << "the test needs clamped entries";
      auto dense = jcas::dar_dense(a, logits, c);
      auto weights = torch::randn_like(dense);
      auto g_dense = torch::autograd::grad({(dense * weights).sum()}, {feat, logits});
      auto low = jcas::dar_lowrank(jcas::normalized_embeddings(feat, 5, 7), logits, c);
      auto g_low = torch::autograd::grad({(low * weights).sum()}, {feat, logits});
      auto formula = dar_formula(feat, logits, c);
      auto g_formula = torch::autograd::grad({(formula * weights).sum()}, {feat, logits});
      EXPECT_LT(rel(dense, formula), 1e-6);
      EXPECT_LT(rel(g_dense[0], g_formula[0]), 1e-5);
      EXPECT_LT(rel(g_dense[1], g_formula[1]), 1e-6);
      EXPECT_LT(rel(low, dense), 1e-6);
      EXPECT_LT(rel(g_low[0], g_dense[0]), 1e-5);
      EXPECT_LT(rel(g_low[1], g_dense[1]), 1e-6);
    }
  }
  torch::NoGradGuard g;
  auto feat = torch::randn({2, 6, 5, 7}), logits = torch::randn({2, 3, 5, 7});
  auto a = jcas::affinity_matrix(jcas::normalized_embeddings(feat, 5, 7));
  EXPECT_GT(rel(jcas::dar_dense(a, logits, jcas::DarComplement::affinity), jcas::dar_dense(a, logits)), 1e-3)
      << "the two complements must differ";
}

struct AffCase {
  jcas::AffinityIgnore ignore;
  bool with_ntm;
};

// The fused CPU corrected NLL against the op chain: values and both gradients, with ignore pixels,
// with and without the class NTM, including pixels where the clamp at 1e-10 is active.
TEST(ClassLoss, FusedEqualsOpChain) {
  torch::manual_seed(3);
  const int64_t K = 4;
  for (bool with_ntm : {true, false}) {
    auto logits = (torch::randn({3, K, 9, 11}) * 4).requires_grad_();
    auto labels = torch::randint(0, K, {3, 9, 11}, torch::kLong);
    labels.index_put_({torch::rand({3, 9, 11}) < 0.2}, 255);
    {
      torch::NoGradGuard no_grad;
      logits[0][0][0][0] = 40;  // p of the other classes underflows: q = 0 for label 1 under the identity
      labels[0][0][0] = 1;
    }
    auto w = torch::randn({K, K}).requires_grad_();
    auto ntm = torch::softmax(w + 3 * torch::eye(K), 1);
    auto t = with_ntm ? ntm : torch::Tensor();
    auto fused = jcas::corrected_nll(logits, labels, t);
    auto [gx, gw] = std::make_tuple(torch::Tensor(), torch::Tensor());
    fused.backward();
    gx = logits.grad().clone();
    if (with_ntm) gw = w.grad().clone();
    logits.mutable_grad().reset();
    w.mutable_grad().reset();
    auto ops = jcas::corrected_nll_ops(logits, labels, with_ntm ? torch::softmax(w + 3 * torch::eye(K), 1) : t);
    ops.backward();
    EXPECT_NEAR(fused.item<double>(), ops.item<double>(), 1e-5 * std::abs(ops.item<double>())) << with_ntm;
    EXPECT_LE(rel(gx, logits.grad()), 1e-5) << with_ntm;
    if (with_ntm) EXPECT_LE(rel(gw, w.grad()), 1e-5);
  }
  // No labelled pixel: 0, as the op chain.
  auto all_ignored = torch::full({1, 2, 2}, 255, torch::kLong);
  EXPECT_EQ(jcas::corrected_nll(torch::randn({1, K, 2, 2}), all_ignored, torch::Tensor()).item<double>(), 0);
  EXPECT_THROW(jcas::corrected_nll(torch::randn({1, K, 2, 2}), torch::full({1, 2, 2}, 7, torch::kLong), torch::Tensor()),
               std::invalid_argument);
}

// The class branch's two terms in one resize and one pass equal the two op chains.
TEST(ClassLoss, BranchInOnePassEqualsTwoOpChains) {
  torch::manual_seed(5);
  auto grid = torch::randn({2, 4, 5, 6}).requires_grad_();
  auto dar = torch::randn({2, 4, 5, 6}).requires_grad_();
  auto labels = torch::randint(0, 4, {2, 20, 24}, torch::kLong);
  labels.index_put_({torch::rand({2, 20, 24}) < 0.2}, 255);
  auto w = torch::randn({4, 4}).requires_grad_();
  auto ntm = [&] { return torch::softmax(w + 3 * torch::eye(4), 1); };
  auto fused = jcas::class_branch_loss(grid, dar, labels, ntm());
  auto gf = torch::autograd::grad({fused}, {grid, dar, w});
  auto ops = jcas::corrected_nll_ops(jcas::resize_bilinear(dar, 20, 24), labels, ntm()) +
             jcas::corrected_nll_ops(jcas::resize_bilinear(grid, 20, 24), labels, ntm());
  auto go = torch::autograd::grad({ops}, {grid, dar, w});
  EXPECT_NEAR(fused.item<double>(), ops.item<double>(), 1e-5 * ops.item<double>());
  for (size_t i = 0; i < gf.size(); ++i) EXPECT_LE(rel(gf[i], go[i]), 1e-5) << i;
}

// F̂ on the CPU (relu and row normalisation in one pass each way) against the reference's op chain,
// values and gradients, with an all-negative pixel (a zero row) and grids above and below the features.
TEST(AffinityLoss, NormalizedEmbeddingsEqualOpChain) {
  torch::manual_seed(19);
  for (auto grid : {std::pair<int64_t, int64_t>{5, 7}, {18, 22}}) {
    auto feat = sparse_features(2, 6, 9, 11).requires_grad_(true);
    auto fhat = jcas::normalized_embeddings(feat, grid.first, grid.second);
    auto weights = torch::randn_like(fhat);
    auto g = torch::autograd::grad({(fhat * weights).sum()}, {feat})[0];
    auto x = F::interpolate(feat, F::InterpolateFuncOptions()
                                      .size(std::vector<int64_t>{grid.first, grid.second})
                                      .mode(torch::kBilinear)
                                      .align_corners(true));
    x = torch::relu(x.permute({0, 2, 3, 1}).reshape({2, grid.first * grid.second, 6}));
    auto ops = x / (x.norm(2, 2, true) + 1e-9);
    auto g_ops = torch::autograd::grad({(ops * weights).sum()}, {feat})[0];
    ASSERT_EQ(ops.select(1, 0).abs().sum().item<double>(), 0) << "the test needs a zero row";
    EXPECT_LT(rel(fhat, ops), 1e-6);
    EXPECT_LT(rel(g, g_ops), 1e-5);
  }
}

// The tiled form against the op chain: values and gradients.
TEST(AffinityLoss, TiledEqualsOpChain) {
  torch::manual_seed(11);
  const int64_t gh = 6, gw = 7;
  auto labels = torch::randint(0, 4, {3, 24, 35}, torch::kLong);
  labels.index_put_({torch::rand({3, 24, 35}) < 0.15}, 255);
  for (auto ignore : {jcas::AffinityIgnore::exclude, jcas::AffinityIgnore::as_class}) {
    for (bool with_ntm : {false, true}) {
      for (int64_t block : {0, 5, 42}) {
        // Without T_A, BCE at A ≈ 1 on a dissimilar pair has gradient 1 / max(A(1 − A), 1e-12): ill-conditioned
        // for near one-hot embeddings, so those cases use wider embeddings; with T_A, A' stays in [T01, T11].
        auto feat = (with_ntm ? torch::randn({3, 5, 9, 11}) - 0.5 : torch::randn({3, 16, 9, 11})).requires_grad_(true);
        jcas::LearnableNTM ta(2);
        {
          torch::NoGradGuard g;
          ta->weight().copy_(torch::tensor({-2.0f, -1.5f, -2.5f, -3.0f}).reshape({2, 2}));
        }
        auto glab = jcas::grid_labels(labels, gh, gw);
        auto t = with_ntm ? ta->matrix() : torch::Tensor();
        auto ops = jcas::affinity_bce_dense(jcas::affinity_matrix(jcas::normalized_embeddings(feat, gh, gw)), glab, t, ignore);
        std::vector<torch::Tensor> wrt = {feat};
        if (with_ntm) wrt.push_back(ta->weight());
        auto go = torch::autograd::grad({ops}, wrt);
        auto t2 = with_ntm ? ta->matrix() : torch::Tensor();
        auto tiled = jcas::affinity_bce_tiled(jcas::normalized_embeddings(feat, gh, gw), glab, t2, ignore, block);
        auto gt = torch::autograd::grad({tiled}, wrt);
        EXPECT_NEAR(tiled.item<double>(), ops.item<double>(), 1e-5 * ops.item<double>());
        for (size_t i = 0; i < wrt.size(); ++i) EXPECT_LT(rel(gt[i], go[i]), 1e-5) << "input " << i << " block " << block;
      }
    }
  }
}

// The CPU dense branch (BCE and A·Q from A's upper tiles, gradients assembled in the backward) against
// the op chain affinity_matrix + affinity_bce_dense + bmm: values and gradients in F̂'s features, T_A and
// Q, with one tile and with several (uneven edge tiles), with clamped entries (disjoint supports, a zero
// embedding), with and without T_A and Q, and with every pair excluded.
TEST(AffinityLoss, DenseBranchEqualsOpChain) {
  torch::manual_seed(17);
  const int64_t gh = 6, gw = 7, n = gh * gw;
  auto labels = torch::randint(0, 4, {3, 24, 35}, torch::kLong);
  labels.index_put_({torch::rand({3, 24, 35}) < 0.15}, 255);
  for (bool all_ignored : {false, true}) {
    auto glab = all_ignored ? torch::full({3, n}, 255, torch::kLong) : jcas::grid_labels(labels, gh, gw);
    for (auto ignore : {jcas::AffinityIgnore::exclude, jcas::AffinityIgnore::as_class}) {
      for (bool with_ntm : {false, true}) {
        for (bool with_q : {false, true}) {
          for (int64_t tile : {0, 5, 16}) {
            auto feat = (with_ntm ? sparse_features(3, 5, 9, 11) : torch::randn({3, 16, 9, 11})).requires_grad_(true);
            jcas::LearnableNTM ta(2);
            {
              torch::NoGradGuard g;
              ta->weight().copy_(torch::tensor({-2.0f, -1.5f, -2.5f, -3.0f}).reshape({2, 2}));
            }
            auto q = torch::randn({3, n, 3}).requires_grad_(true);
            auto weights = torch::randn({3, n, 3});
            std::vector<torch::Tensor> wrt = {feat};
            if (with_ntm) wrt.push_back(ta->weight());
            if (with_q) wrt.push_back(q);
            auto t = with_ntm ? ta->matrix() : torch::Tensor();
            auto a = jcas::affinity_matrix(jcas::normalized_embeddings(feat, gh, gw));
            if (with_ntm) ASSERT_GT((a == 1e-10f).sum().item<int64_t>(), 0) << "the test needs clamped entries";
            auto ops = jcas::affinity_bce_dense(a, glab, t, ignore);
            auto ops_products = torch::bmm(a, q);
            auto go = torch::autograd::grad({with_q ? ops + (ops_products * weights).sum() : ops}, wrt);
            auto t2 = with_ntm ? ta->matrix() : torch::Tensor();
            auto branch = jcas::dense_affinity_branch(jcas::normalized_embeddings(feat, gh, gw), with_q ? q : torch::Tensor(),
                                                      glab, t2, ignore, tile);
            auto gb = torch::autograd::grad({with_q ? branch.bce + (branch.products * weights).sum() : branch.bce}, wrt);
            EXPECT_NEAR(branch.bce.item<double>(), ops.item<double>(), 1e-5 * ops.item<double>());
            if (with_q) EXPECT_LT(rel(branch.products, ops_products), 1e-6);
            else EXPECT_FALSE(branch.products.defined());
            for (size_t i = 0; i < wrt.size(); ++i)
              EXPECT_LT(rel(gb[i], go[i]), 1e-5) << "input " << i << " tile " << tile << " q " << with_q;
          }
        }
      }
    }
  }
}

// The dense branch's partial sums are added in a fixed order: one thread and three give the same bits.
TEST(AffinityLoss, DenseBranchDoesNotDependOnTheThreadCount) {
  torch::manual_seed(23);
  const int64_t gh = 24, gw = 25, n = gh * gw;  // 600 pixels: several 256-tiles with uneven edges
  auto feat = sparse_features(2, 8, 12, 13);
  auto glab = torch::randint(0, 3, {2, n}, torch::kLong);
  auto q = torch::randn({2, n, 4});
  const int threads = torch::get_num_threads();
  std::vector<std::vector<torch::Tensor>> results;
  for (int t : {1, 3}) {
    torch::set_num_threads(t);
    auto f = feat.clone().requires_grad_(true);
    auto qq = q.clone().requires_grad_(true);
    auto branch = jcas::dense_affinity_branch(jcas::normalized_embeddings(f, gh, gw), qq, glab, {},
                                              jcas::AffinityIgnore::exclude);
    auto g = torch::autograd::grad({branch.bce + branch.products.sum()}, {f, qq});
    results.push_back({branch.bce, branch.products, g[0], g[1]});
  }
  torch::set_num_threads(threads);
  for (size_t i = 0; i < results[0].size(); ++i) EXPECT_TRUE(torch::equal(results[0][i], results[1][i])) << i;
}

TEST(AffinityLoss, ExcludeDropsIgnorePairs) {
  // Two grid pixels of class 0 and one ignore pixel: with `exclude` only the 2×2 pairs of the class-0
  // pixels count; with `as_class` all 9 pairs count, the ignore pixel being its own class.
  auto glab = torch::tensor({0, 0, 255}, torch::kLong).reshape({1, 3});
  auto a = torch::tensor({0.9f, 0.6f, 0.3f, 0.6f, 0.8f, 0.2f, 0.3f, 0.2f, 0.95f}).reshape({1, 3, 3});
  auto ex = jcas::affinity_bce_dense(a, glab, {}, jcas::AffinityIgnore::exclude).item<double>();
  const double expect_ex = -(std::log(0.9) + 2 * std::log(0.6) + std::log(0.8)) / 4;
  EXPECT_NEAR(ex, expect_ex, 1e-6);
  auto ac = jcas::affinity_bce_dense(a, glab, {}, jcas::AffinityIgnore::as_class).item<double>();
  const double expect_ac = -(std::log(0.9) + 2 * std::log(0.6) + std::log(0.8) + 2 * std::log(0.7) + 2 * std::log(0.8) +
                             std::log(0.95)) / 9;
  EXPECT_NEAR(ac, expect_ac, 1e-6);
  EXPECT_NEAR(jcas::affinity_bce_dense(a, glab, {}, jcas::AffinityIgnore::exclude).item<double>(), expect_ex, 1e-6);
  EXPECT_NEAR(jcas::affinity_bce_dense(a, glab, {}, jcas::AffinityIgnore::as_class).item<double>(), expect_ac, 1e-6);
  // Everything ignored: 0, in both implementations.
  auto all_ignored = torch::full({1, 3}, 255, torch::kLong);
  EXPECT_EQ(jcas::affinity_bce_dense(a, all_ignored, {}, jcas::AffinityIgnore::exclude).item<double>(), 0);
  auto fhat = torch::rand({1, 3, 4});
  EXPECT_EQ(jcas::affinity_bce_tiled(fhat, all_ignored, {}, jcas::AffinityIgnore::exclude).item<double>(), 0);
}

// The CPU affinity matrix (one product in its backward) against bmm + clamp, with clamped entries
// at both ends: disjoint supports give 0 (clamped to 1e-10), A_ii rounds to about 1.
TEST(AffinityLoss, AffinityMatrixEqualsProductAndClamp) {
  torch::manual_seed(13);
  for (int64_t batch : {1, 3}) {
    auto feat = sparse_features(batch, 6, 5, 7).requires_grad_(true);
    auto weights = torch::randn({batch, 35, 35});
    auto a = jcas::affinity_matrix(jcas::normalized_embeddings(feat, 5, 7));
    auto ga = torch::autograd::grad({(a * weights).sum()}, {feat})[0];
    auto fhat = jcas::normalized_embeddings(feat, 5, 7);
    auto b = torch::bmm(fhat, fhat.transpose(1, 2)).clamp(1e-10, 1.0);
    auto gb = torch::autograd::grad({(b * weights).sum()}, {feat})[0];
    ASSERT_GT((b == 1e-10f).sum().item<int64_t>(), 0) << "the test needs clamped entries";
    EXPECT_TRUE(torch::equal(a, b));
    EXPECT_LT(rel(ga, gb), 1e-6);
  }
}

TEST(AffinityLoss, NearestGridLabelsIndexLikeTorchUpsample) {
  // 32×40 -> 8×8: source rows 4i, columns 5j.
  auto labels = torch::arange(32 * 40, torch::kLong).remainder(251).reshape({1, 32, 40});
  auto g = jcas::grid_labels(labels, 8, 8).reshape({8, 8});
  for (int i = 0; i < 8; ++i)
    for (int j = 0; j < 8; ++j) EXPECT_EQ(g[i][j].item<int64_t>(), labels[0][4 * i][5 * j].item<int64_t>());
}

struct Inputs {
  torch::Tensor feat1, feat2, pred1, pred2, labels, dist;
};
Inputs make_inputs(bool grad = true) {
  torch::manual_seed(13);
  Inputs in;
  in.feat1 = torch::randn({2, 6, 5, 6}).requires_grad_(grad);
  in.feat2 = torch::randn({2, 8, 5, 6}).requires_grad_(grad);
  in.pred1 = torch::randn({2, 4, 5, 6}).requires_grad_(grad);
  in.pred2 = torch::randn({2, 4, 5, 6}).requires_grad_(grad);
  in.labels = torch::randint(0, 4, {2, 20, 24}, torch::kLong).to(torch::kUInt8);
  in.labels.index_put_({torch::rand({2, 20, 24}) < 0.1}, 255);
  in.dist = torch::tensor({0.7f, 0.1f, 0.1f, 0.1f});
  return in;
}
jcas::JcasLossOptions small_options() {
  jcas::JcasLossOptions o;
  o.affinity_h = 4;
  o.affinity_w = 5;
  return o;
}
jcas::LossTerms run(const jcas::JcasLossOptions& o, const Inputs& in, jcas::JcasLoss* keep = nullptr) {
  jcas::JcasLoss loss(4, o);
  if (keep) *keep = loss;
  return loss->forward(in.feat1, in.feat2, in.pred1, in.pred2, in.labels, in.dist);
}

TEST(JcasLoss, TiledEqualsDenseFullLoss) {
  auto in = make_inputs();
  auto o = small_options();
  auto dense = run(o, in).total;
  auto gd = torch::autograd::grad({dense}, {in.feat1, in.feat2, in.pred1, in.pred2});
  o.affinity_impl = jcas::AffinityImpl::tiled;
  auto tiled = run(o, in).total;
  auto gt = torch::autograd::grad({tiled}, {in.feat1, in.feat2, in.pred1, in.pred2});
  EXPECT_NEAR(tiled.item<double>(), dense.item<double>(), 1e-5 * std::abs(dense.item<double>()));
  for (size_t i = 0; i < gd.size(); ++i) EXPECT_LT(rel(gt[i], gd[i]), 1e-5) << i;
}

TEST(JcasLoss, AffinityOffHasNoAffinityTerms) {
  auto in = make_inputs();
  auto o = small_options();
  o.affinity = false;
  jcas::JcasLoss loss{nullptr};
  auto t = run(o, in, &loss);
  EXPECT_EQ(t.aff1.item<double>(), 0);
  EXPECT_EQ(t.aff2.item<double>(), 0);
  EXPECT_EQ(t.consistency.item<double>(), 0);
  t.total.backward();
  EXPECT_FALSE(in.feat1.grad().defined());  // embeddings do not take part
  EXPECT_FALSE(loss->affinity_ntm->weight().grad().defined());
  // CALC without the affinity terms learns T_C only.
  EXPECT_TRUE(loss->class_transition());
  EXPECT_FALSE(loss->affinity_transition());
}

TEST(JcasLoss, AllSwitchesOffIsCrossEntropy) {
  auto in = make_inputs();
  auto o = small_options();
  o.affinity = o.dar = o.calc = false;
  auto t = run(o, in);
  auto c = jcas::CrossEntropyLossImpl(o.lambda).forward(in.feat1, in.feat2, in.pred1, in.pred2, in.labels, in.dist);
  EXPECT_NEAR(t.total.item<double>(), c.total.item<double>(), 1e-6);
  // Independent check of the CE baseline: log-softmax NLL over the non-ignored pixels.
  auto labels = in.labels.to(torch::kLong);
  auto x = jcas::resize_bilinear(in.pred2, 20, 24);
  auto logp = torch::log_softmax(x, 1).permute({0, 2, 3, 1}).reshape({-1, 4});
  auto flat = labels.flatten();
  auto keep = flat != 255;
  auto picked = logp.index({keep}).gather(1, flat.index({keep}).unsqueeze(1));
  EXPECT_NEAR(c.seg2.item<double>(), -picked.mean().item<double>(), 1e-5);
  EXPECT_EQ(c.volume.item<double>(), 0);
}

TEST(JcasLoss, DarOffUsesPlainTermOnly) {
  auto in = make_inputs();
  auto o = small_options();
  o.dar = false;
  jcas::JcasLoss loss{nullptr};
  auto t = run(o, in, &loss);
  auto expected = jcas::corrected_nll(jcas::resize_bilinear(in.pred2, 20, 24), in.labels.to(torch::kLong), loss->class_ntm->matrix());
  EXPECT_NEAR(t.seg2.item<double>(), expected.item<double>(), 1e-6);
  EXPECT_GT(t.aff2.item<double>(), 0);
}

TEST(JcasLoss, CalcOffHasNoCorrection) {
  auto in = make_inputs();
  auto o = small_options();
  o.calc = false;
  jcas::JcasLoss loss{nullptr};
  auto t = run(o, in, &loss);
  EXPECT_EQ(t.volume.item<double>(), 0);
  EXPECT_EQ(t.consistency.item<double>(), 0);
  t.total.backward();
  EXPECT_FALSE(loss->class_ntm->weight().grad().defined());
  EXPECT_FALSE(loss->affinity_ntm->weight().grad().defined());
  EXPECT_FALSE(loss->class_transition());  // nothing learned, nothing stored
  // With CALC on, both NTMs receive gradients and the terms are non-zero.
  auto o2 = small_options();
  jcas::JcasLoss loss2{nullptr};
  auto t2 = run(o2, make_inputs(), &loss2);
  t2.total.backward();
  EXPECT_NE(t2.volume.item<double>(), 0);
  EXPECT_GT(t2.consistency.item<double>(), 0);
  EXPECT_GT(loss2->class_ntm->weight().grad().abs().sum().item<double>(), 0);
  EXPECT_GT(loss2->affinity_ntm->weight().grad().abs().sum().item<double>(), 0);
}

// The total as DESIGN §3.6 writes it, with the affinity terms scaled by affinity_weight (1 = the reference).
TEST(JcasLoss, TotalWeighsTheTerms) {
  auto in = make_inputs();
  for (double w : {1.0, 0.25}) {
    auto o = small_options();
    o.affinity_weight = w;
    auto t = run(o, in);
    auto expected = t.seg2 + o.lambda * t.seg1 + w * (t.aff1 + o.lambda * t.aff2) + o.volume_weight * t.volume +
                    o.consistency_weight * t.consistency;
    EXPECT_NEAR(t.total.item<double>(), expected.item<double>(), 1e-6);
    EXPECT_GT(t.aff1.item<double>(), 0);
  }
}

// A model with one head (an imported model without an auxiliary output) passes the same tensors as
// both heads: the terms are computed once, with the values and gradients of two equal heads.
TEST(JcasLoss, OneHeadIsComputedOnceWithTheValuesOfTwoEqualHeads) {
  auto in = make_inputs();
  const auto& feat = in.feat2;
  const auto& pred = in.pred2;
  for (int variant = 0; variant < 4; ++variant) {
    auto o = small_options();
    o.affinity_impl = variant == 1 ? jcas::AffinityImpl::tiled : jcas::AffinityImpl::dense;
    o.dar = variant != 2;
    o.affinity = variant != 3;
    jcas::JcasLoss loss(4, o);
    auto once = loss->forward(feat, feat, pred, pred, in.labels, in.dist);
    EXPECT_TRUE(once.seg1.is_same(once.seg2)) << variant;
    if (o.affinity) EXPECT_TRUE(once.aff1.is_same(once.aff2)) << variant;
    const std::vector<torch::Tensor> leaves = o.affinity ? std::vector<torch::Tensor>{feat, pred}
                                                         : std::vector<torch::Tensor>{pred};
    auto g_once = torch::autograd::grad({once.total}, leaves);
    auto twice = loss->forward(feat * 1, feat * 1, pred * 1, pred * 1, in.labels, in.dist);
    EXPECT_FALSE(twice.seg1.is_same(twice.seg2));
    auto g_twice = torch::autograd::grad({twice.total}, leaves);
    EXPECT_NEAR(once.total.item<double>(), twice.total.item<double>(), 1e-6 * std::abs(twice.total.item<double>()))
        << variant;
    for (size_t i = 0; i < g_once.size(); ++i) EXPECT_LT(rel(g_once[i], g_twice[i]), 1e-5) << variant << " " << i;
  }
}

TEST(HeadTerms, OneHeadIsComputedOnce) {
  auto a = torch::randn({1, 2, 3, 3}), b = a.clone();
  int calls = 0;
  auto term = [&](const torch::Tensor& p) {
    ++calls;
    return p.sum();
  };
  auto once = jcas::head_terms(a, a, 0.4, term);
  EXPECT_EQ(calls, 1);
  calls = 0;
  auto twice = jcas::head_terms(a, b, 0.4, term);
  EXPECT_EQ(calls, 2);
  EXPECT_DOUBLE_EQ(once.total.item<double>(), twice.total.item<double>());
  EXPECT_NEAR(once.total.item<double>(), 1.4 * a.sum().item<double>(), 1e-5);
}

TEST(JcasLoss, RejectsBadOptions) {
  // Option text is checked where it is bound: each bad value is one error naming its key.
  for (auto [key, text] : std::vector<std::pair<std::string, std::string>>{
           {"retrain.affinity_impl", "sparse"}, {"retrain.affinity_ignore", "drop"}, {"retrain.affinity_grid", "0x5"},
           {"retrain.lambda", "much"}, {"retrain.dar_complement", "inverse"}}) {
    jcas::OptionValues values;
    values.set(key, text);
    try {
      values.get<jcas::JcasLossOptions>("retrain");
      ADD_FAILURE() << key << "=" << text << " accepted";
    } catch (const jcas::UserError& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  }
  auto o = small_options();
  o.affinity_h = 0;
  EXPECT_THROW(jcas::JcasLoss(4, o), jcas::UserError);
  o = small_options();
  o.volume_weight = -1;
  EXPECT_THROW(jcas::JcasLoss(4, o), jcas::UserError);
  o = small_options();
  o.affinity_weight = -1;
  EXPECT_THROW(jcas::JcasLoss(4, o), jcas::UserError);
}

TEST(Predict, AveragesDarAndPlainSoftmax) {
  torch::NoGradGuard g;
  auto in = make_inputs(false);
  auto o = jcas::InferenceMode::of(small_options(), true);
  ASSERT_TRUE(o.dar);
  auto p = jcas::predict_probabilities(in.feat2, in.pred2, 20, 24, o);
  ASSERT_EQ(p.sizes(), (std::vector<int64_t>{2, 4, 20, 24}));
  EXPECT_LT((p.sum(1) - 1).abs().max().item<double>(), 1e-5);
  auto grid = jcas::resize_bilinear(in.pred2, 4, 5);
  auto dar = jcas::dar_dense(jcas::affinity_matrix(jcas::normalized_embeddings(in.feat2, 4, 5)), grid);
  auto expected = (jcas::resize_bilinear(torch::softmax(dar, 1), 20, 24) + jcas::resize_bilinear(torch::softmax(grid, 1), 20, 24)) / 2;
  EXPECT_LT(rel(p, expected), 1e-6);
  o.impl = jcas::AffinityImpl::tiled;
  EXPECT_LT(rel(jcas::predict_probabilities(in.feat2, in.pred2, 20, 24, o), expected), 1e-5);
  // The affinity complement reaches the readout, and the readout's name round-trips.
  EXPECT_EQ(o.readout(), "dar");
  o.complement = jcas::DarComplement::affinity;
  o.impl = jcas::AffinityImpl::dense;
  auto dar_aff = jcas::dar_dense(jcas::affinity_matrix(jcas::normalized_embeddings(in.feat2, 4, 5)), grid,
                                 jcas::DarComplement::affinity);
  EXPECT_LT(rel(jcas::predict_probabilities(in.feat2, in.pred2, 20, 24, o),
                (jcas::resize_bilinear(torch::softmax(dar_aff, 1), 20, 24) +
                 jcas::resize_bilinear(torch::softmax(grid, 1), 20, 24)) / 2), 1e-6);
  jcas::InferenceMode back;
  ASSERT_TRUE(back.set_readout(o.readout()));
  EXPECT_TRUE(back.dar && back.complement == jcas::DarComplement::affinity);
  EXPECT_FALSE(back.set_readout("dar2"));
  o = jcas::InferenceMode::of(small_options(), false);
  EXPECT_LT(rel(jcas::predict_probabilities(in.feat2, in.pred2, 20, 24, o),
                torch::softmax(jcas::resize_bilinear(in.pred2, 20, 24), 1)), 1e-7);
}

}  // namespace
