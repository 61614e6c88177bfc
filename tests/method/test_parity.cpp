// Parity with the reference implementation (DESIGN §10): losses, NTMs and gradients of the fixture
// computed by CityU-AIM-Group/JCAS on CPU in float32.
//
// Tolerances: scalars |a − b| / max(|b|, 1e-8) <= 1e-4; tensors (gradients, matrices) are compared by
// the norm-relative error ‖a − b‖₂ / max(‖b‖₂, 1e-12) <= 1e-4.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <string>

#include "adapters/io/h5_store.h"
#include "pipeline/method/class_to_affinity.h"
#include "pipeline/method/jcas_loss.h"

namespace {

const std::string kFixture = std::string(JCAS_FIXTURES) + "/jcas_reference.h5";
const char* kCases[] = {"case_small", "case_ignore", "case_batch3"};

double scalar_rel(const torch::Tensor& a, const torch::Tensor& b) {
  const double x = a.item<double>(), y = b.item<double>();
  return std::abs(x - y) / std::max(std::abs(y), 1e-8);
}
double tensor_rel(const torch::Tensor& a, const torch::Tensor& b) {
  auto x = a.detach().to(torch::kFloat64), y = b.detach().to(torch::kFloat64);
  EXPECT_EQ(x.sizes(), y.sizes());
  return (x - y).norm().item<double>() / std::max(y.norm().item<double>(), 1e-12);
}

struct Run {
  jcas::LossTerms terms;
  jcas::JcasLoss loss{nullptr};
  torch::Tensor feat1, feat2, pred1, pred2;
};

Run run_case(const jcas::H5Reader& h5, const std::string& c, const std::string& impl) {
  const auto grid = std::get<std::vector<int64_t>>(h5.attr("/" + c, "affinity_grid"));
  jcas::JcasLossOptions o;
  o.affinity_h = static_cast<int>(grid.at(0));
  o.affinity_w = static_cast<int>(grid.at(1));
  o.lambda = h5.attr_double("/" + c, "lambda_seg");
  o.volume_weight = h5.attr_double("/" + c, "volume_weight");
  o.consistency_weight = h5.attr_double("/" + c, "consistency_weight");
  o.affinity_weight = 1;  // the reference's total
  o.affinity_ignore = jcas::AffinityIgnore::as_class;  // the reference treats 255 as one more class
  o.affinity_impl = jcas::parse_enum<jcas::AffinityImpl>(impl, "impl");
  const std::string in = "/" + c + "/inputs/";
  Run r;
  auto class_w = h5.read(in + "class_ntm_weight");
  r.loss = jcas::JcasLoss(static_cast<int>(class_w.size(0)), o);
  {
    torch::NoGradGuard g;
    r.loss->class_ntm->weight().copy_(class_w);
    r.loss->affinity_ntm->weight().copy_(h5.read(in + "affinity_ntm_weight"));
  }
  r.feat1 = h5.read(in + "feat1").requires_grad_(true);
  r.feat2 = h5.read(in + "feat2").requires_grad_(true);
  r.pred1 = h5.read(in + "pred1").requires_grad_(true);
  r.pred2 = h5.read(in + "pred2").requires_grad_(true);
  r.terms = r.loss->forward(r.feat1, r.feat2, r.pred1, r.pred2, h5.read(in + "labels"), h5.read(in + "class_dist"));
  r.terms.total.backward();
  return r;
}

void check_case(const std::string& c, const std::string& impl) {
  jcas::H5Reader h5(kFixture);
  auto r = run_case(h5, c, impl);
  const std::string out = "/" + c + "/outputs/", gr = "/" + c + "/grads/";
  const std::pair<const char*, torch::Tensor> scalars[] = {
      {"loss_aff1", r.terms.aff1}, {"loss_aff2", r.terms.aff2},     {"loss_seg1", r.terms.seg1},
      {"loss_seg2", r.terms.seg2}, {"volume", r.terms.volume},      {"consistency", r.terms.consistency},
      {"total", r.terms.total}};
  for (const auto& [name, value] : scalars) {
    const double e = scalar_rel(value, h5.read(out + name));
    std::printf("%s %s %-12s rel %.2e\n", c.c_str(), impl.c_str(), name, e);
    EXPECT_LE(e, 1e-4) << c << " " << name << ": " << value.item<double>() << " vs " << h5.read(out + name).item<double>();
  }
  const std::pair<const char*, torch::Tensor> tensors[] = {
      {"class_ntm", r.loss->class_ntm->matrix()},
      {"affinity_ntm", r.loss->affinity_ntm->matrix()},
  };
  for (const auto& [name, value] : tensors) {
    const double e = tensor_rel(value, h5.read(out + name));
    std::printf("%s %s %-12s rel %.2e\n", c.c_str(), impl.c_str(), name, e);
    EXPECT_LE(e, 1e-4) << c << " " << name;
  }
  const std::pair<const char*, torch::Tensor> grads[] = {
      {"feat1", r.feat1.grad()}, {"feat2", r.feat2.grad()}, {"pred1", r.pred1.grad()}, {"pred2", r.pred2.grad()},
      {"class_ntm_weight", r.loss->class_ntm->weight().grad()},
      {"affinity_ntm_weight", r.loss->affinity_ntm->weight().grad()}};
  for (const auto& [name, value] : grads) {
    ASSERT_TRUE(value.defined()) << name;
    const double e = tensor_rel(value, h5.read(gr + name));
    std::printf("%s %s grad %-20s rel %.2e\n", c.c_str(), impl.c_str(), name, e);
    EXPECT_LE(e, 1e-4) << c << " grad " << name;
  }
}

TEST(Parity, DenseMatchesReference) {
  for (const char* c : kCases) check_case(c, "dense");
}

TEST(Parity, TiledMatchesReference) {
  for (const char* c : kCases) check_case(c, "tiled");
}

TEST(Parity, ClassToAffinity) {
  jcas::H5Reader h5(kFixture);
  for (const char* c : kCases) {
    const std::string out = std::string("/") + c + "/outputs/";
    auto tc = h5.read(out + "class_ntm");
    auto dist = h5.read(std::string("/") + c + "/inputs/class_dist");
    const double e1 = tensor_rel(jcas::class_to_affinity(tc, dist), h5.read(out + "class_to_affinity"));
    const double e2 = tensor_rel(jcas::class_to_affinity_reference_order(tc, dist),
                                 h5.read(out + "reference_class2affinity_loop"));
    std::printf("%s class_to_affinity rel %.2e, reference order rel %.2e\n", c, e1, e2);
    EXPECT_LE(e1, 1e-5) << c;
    EXPECT_LE(e2, 1e-5) << c;
    // The reference's loop output is the index-reversed form of the toolkit's convention.
    EXPECT_LE(tensor_rel(h5.read(out + "class_to_affinity").flip({0, 1}), h5.read(out + "reference_class2affinity_loop")), 1e-6);
  }
}

}  // namespace
