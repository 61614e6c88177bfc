// The adaptation methods of the registry: what each one trains with, how it warms up, what it
// trains and keeps, how it is read out; and the baselines' own losses against their formulas.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "adapters/foundation/error.h"
#include "pipeline/method/class_loss.h"
#include "pipeline/method/jcas_loss.h"
#include "pipeline/model/batchnorm_layers.h"
#include "pipeline/model/deeplab.h"
#include "pipeline/training/adaptation_registry.h"
#include "pipeline/training/retrain_recipe.h"

using namespace jcas;

namespace {

namespace F = torch::nn::functional;

struct Inputs {
  torch::Tensor feat1, feat2, pred1, pred2, labels, dist;
};

Inputs make_inputs() {
  torch::manual_seed(13);
  Inputs in;
  in.feat1 = torch::randn({2, 6, 5, 6});
  in.feat2 = torch::randn({2, 8, 5, 6});
  in.pred1 = torch::randn({2, 4, 5, 6}).requires_grad_(true);
  in.pred2 = torch::randn({2, 4, 5, 6}).requires_grad_(true);
  in.labels = torch::randint(0, 4, {2, 20, 24}, torch::kLong).to(torch::kUInt8);
  in.labels.index_put_({torch::rand({2, 20, 24}) < 0.1}, 255);
  in.dist = torch::tensor({0.7f, 0.1f, 0.1f, 0.1f});
  return in;
}

JcasLossOptions small_options() {
  JcasLossOptions o;
  o.affinity_h = 4;
  o.affinity_w = 5;
  return o;
}

LossTerms loss_of(const std::string& method, const Inputs& in, const JcasLossOptions& o = small_options(),
                  const MethodSettings& s = MethodSettings()) {
  auto loss = adaptation_method(method).loss(4, o, s);
  return loss->forward(in.feat1, in.feat2, in.pred1, in.pred2, in.labels, in.dist);
}

torch::Tensor reference_ce(const torch::Tensor& logits, const torch::Tensor& labels) {
  return F::cross_entropy(resize_bilinear(logits, 20, 24), labels.to(torch::kLong),
                          F::CrossEntropyFuncOptions().ignore_index(255));
}

}  // namespace

TEST(AdaptationMethods, TheAblationRowsAndBaselines) {
  std::vector<std::string> names, paper;
  for (const auto& m : adaptation_methods()) {
    names.push_back(m->name());
    if (m->paper_ablation()) paper.push_back(m->name());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"ce", "affinity", "dar", "calc", "jcas", "volmin", "volmin_anchor",
                                             "sparsereg", "adabn", "tent", "tent_offline", "ce_prior", "cbst", "dpl",
                                             "jcas_cbst", "jcas_dpl"}));
  EXPECT_EQ(paper, (std::vector<std::string>{"ce", "affinity", "dar", "calc", "jcas", "volmin_anchor", "sparsereg"}));
  try {
    adaptation_method("magic");
    ADD_FAILURE() << "an unknown method was accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("jcas"), std::string::npos) << "lists the registered names: " << e.what();
  }
  EXPECT_THROW(register_adaptation_method(adaptation_methods().front()), UserError);  // the name is taken
}

TEST(AdaptationMethods, CorrectionWarmUpAndReadout) {
  const auto base = small_options();
  for (const char* name : {"calc", "jcas", "volmin_anchor", "jcas_cbst", "jcas_dpl"}) {
    const auto& m = adaptation_method(name);
    EXPECT_TRUE(m.corrects()) << name;
    EXPECT_TRUE(m.uses_ntm_estimate()) << name;
    EXPECT_TRUE(m.warmup_loss(4, base)) << name;
    EXPECT_FALSE(m.warmup_loss(4, base)->class_transition()) << name << ": the warm-up corrects nothing";
  }
  // VolMin as its paper: corrects from the first epoch, from W = -2 rather than an anchor estimate.
  EXPECT_TRUE(adaptation_method("volmin").corrects());
  EXPECT_FALSE(adaptation_method("volmin").uses_ntm_estimate());
  EXPECT_FALSE(adaptation_method("volmin").warmup_loss(4, base));
  for (const char* name : {"ce", "affinity", "dar", "sparsereg", "tent", "tent_offline", "ce_prior", "cbst", "dpl"}) {
    const auto& m = adaptation_method(name);
    EXPECT_FALSE(m.corrects()) << name;
    EXPECT_FALSE(m.warmup_loss(4, base)) << name;
    EXPECT_TRUE(m.trains()) << name;
  }
  EXPECT_FALSE(adaptation_method("adabn").trains());
  for (const char* name : {"dar", "jcas", "jcas_dpl"}) EXPECT_TRUE(adaptation_method(name).readout(base).dar) << name;
  for (const char* name : {"ce", "affinity", "calc", "volmin", "tent", "tent_offline"})
    EXPECT_FALSE(adaptation_method(name).readout(base).dar) << name;
  EXPECT_TRUE(adaptation_method("tent").readout(base).image_statistics);
  for (const char* name : {"ce", "jcas", "volmin", "tent_offline"})
    EXPECT_FALSE(adaptation_method(name).readout(base).image_statistics) << name;
  EXPECT_EQ(adaptation_method("jcas").readout(base).grid_w, 5);  // the read-out runs on the loss's grid
  const JcasComponents on = adaptation_method("calc").components();
  EXPECT_TRUE(on.affinity && !on.dar && on.calc);
  EXPECT_FALSE(adaptation_method("volmin_anchor").components().calc);  // its ablation row marks no JCAS component
}

// --retrain.readout: the method's own read-out, or softmax / DAR whatever the method.
TEST(AdaptationMethods, AnyModelCanBeReadOutWithDarOrSoftmax) {
  RetrainOptions o;
  o.loss.affinity_h = 4, o.loss.affinity_w = 5;
  for (const auto& [method, dar] : {std::pair<const char*, bool>{"ce", false}, {"jcas", true}, {"volmin", false}}) {
    o.method = method;
    o.readout = Readout::method;
    EXPECT_EQ(o.inference().dar, dar) << method;
    o.readout = Readout::dar;
    EXPECT_TRUE(o.inference().dar) << method;
    EXPECT_EQ(o.inference().grid_w, 5) << method << ": DAR on the [retrain] grid";
    o.readout = Readout::softmax;
    EXPECT_FALSE(o.inference().dar) << method;
  }
  o.method = "tent";
  o.readout = Readout::dar;
  EXPECT_TRUE(o.inference().dar && o.inference().image_statistics);  // Tent keeps its normalisation
}

// Tent normalises with batch statistics by definition: frozen statistics are refused, not undone.
TEST(AdaptationMethods, TentRefusesFrozenBatchNormStatistics) {
  RetrainOptions o;
  o.freeze.bn_stats = true;
  o.method = "jcas";
  EXPECT_NO_THROW(o.check());
  o.method = "tent";
  try {
    o.check();
    ADD_FAILURE() << "tent with --retrain.freeze bn_stats was accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("--retrain.freeze bn_stats: method 'tent'"), std::string::npos) << e.what();
  }
  o.freeze.bn_stats = false;
  EXPECT_NO_THROW(o.check());
}

TEST(AdaptationMethods, FiltersAdaBNAndTrainableParameters) {
  EXPECT_EQ(adaptation_method("cbst").label_filter(), LabelFilter::class_balanced);
  EXPECT_EQ(adaptation_method("jcas_dpl").label_filter(), LabelFilter::dpl);
  EXPECT_EQ(adaptation_method("jcas").label_filter(), LabelFilter::none);
  EXPECT_TRUE(adaptation_method("adabn").starts_with_adabn());
  EXPECT_TRUE(adaptation_method("tent_offline").starts_with_adabn());
  EXPECT_FALSE(adaptation_method("tent").starts_with_adabn());  // it never reads the running statistics
  EXPECT_FALSE(adaptation_method("jcas").starts_with_adabn());
  ModelOptions mo;
  mo.width = 4;
  DeepLab net(mo);
  const auto all = adaptation_method("ce").trainable_parameters(*net);
  EXPECT_EQ(all.size(), net->backbone_parameters().size() + net->head_parameters().size());
  for (const char* name : {"tent", "tent_offline"}) {
    const auto tent = adaptation_method(name).trainable_parameters(*net);
    EXPECT_EQ(tent.size(), batchnorm_affine_parameters(*net).size()) << name;
    EXPECT_LT(tent.size(), all.size()) << name;
  }
}

// What each method changes in the trainer, and which ones were redefined (revision 1) so that
// results cached under their names before are recomputed.
TEST(AdaptationMethods, TentTrainsOneOnlinePassWithAdam) {
  TrainerOptions run;
  run.epochs = 8;
  run.warmup_epochs = 2;
  MethodSettings s;
  s.tent_lr = 0.002;
  adaptation_method("tent").configure(run, s);
  EXPECT_EQ(run.epochs, 1);
  EXPECT_EQ(run.warmup_epochs, 0);
  EXPECT_EQ(run.optimizer, Optimizer::adam);
  EXPECT_EQ(run.lr, 0.002);
  EXPECT_EQ(run.weight_decay, 0);
  EXPECT_EQ(run.poly_power, 0);
  EXPECT_EQ(run.head_lr_factor, 1);
  EXPECT_FALSE(run.flips);
  EXPECT_FALSE(adaptation_method("tent").reads_labels());
  TrainerOptions untouched;
  for (const char* name : {"tent_offline", "jcas", "volmin"}) {
    TrainerOptions r;
    adaptation_method(name).configure(r, s);
    EXPECT_EQ(r.epochs, untouched.epochs) << name;
    EXPECT_EQ(r.optimizer, Optimizer::sgd) << name;
  }
  for (const auto& m : adaptation_methods())
    EXPECT_EQ(m->revision(), static_cast<int>(m->name() == "tent" || m->name() == "volmin" ||
                                              m->label_filter() == LabelFilter::class_balanced))
        << m->name();
}

// The loss a method builds against an independent computation of its formula.
TEST(AdaptationMethods, CrossEntropyOnBothHeads) {
  auto in = make_inputs();
  auto o = small_options();
  o.lambda = 0.3;
  auto t = loss_of("ce", in, o);
  EXPECT_NEAR(t.seg2.item<double>(), reference_ce(in.pred2, in.labels).item<double>(), 1e-6);
  EXPECT_NEAR(t.total.item<double>(), (t.seg2 + 0.3 * t.seg1).item<double>(), 1e-6);
  EXPECT_EQ(t.volume.item<double>(), 0);
  for (const char* same : {"cbst", "dpl"}) EXPECT_EQ(loss_of(same, in, o).total.item<double>(), t.total.item<double>());
}

// Both VolMins: corrected NLL of both heads plus a weight times log|det T_C| — VolMin's λ
// (--retrain.volmin_lambda) for the paper's, JCAS's β (--retrain.volume_weight) for the hybrid.
TEST(AdaptationMethods, VolMinIsCorrectedNllPlusVolume) {
  auto in = make_inputs();
  auto o = small_options();
  o.volume_weight = 0.5;
  MethodSettings s;
  s.volmin_lambda = 0.03;
  for (const auto& [name, weight] : {std::pair<const char*, double>{"volmin", 0.03}, {"volmin_anchor", 0.5}}) {
    auto loss = adaptation_method(name).loss(4, o, s);
    auto t = loss->forward(in.feat1, in.feat2, in.pred1, in.pred2, in.labels, in.dist);
    auto tc = loss->class_transition()->matrix();
    auto seg2 = corrected_nll(resize_bilinear(in.pred2, 20, 24), in.labels.to(torch::kLong), tc);
    auto volume = std::get<1>(torch::linalg_slogdet(tc));
    EXPECT_NEAR(t.seg2.item<double>(), seg2.item<double>(), 1e-6) << name;
    EXPECT_NEAR(t.volume.item<double>(), volume.item<double>(), 1e-6) << name;
    EXPECT_NEAR(t.total.item<double>(), (t.seg2 + o.lambda * t.seg1 + weight * volume).item<double>(), 1e-6) << name;
    EXPECT_EQ(t.aff2.item<double>(), 0) << name;
    EXPECT_FALSE(loss->affinity_transition()) << name;
  }
}

TEST(AdaptationMethods, SparseRegMatchesFormula) {
  auto in = make_inputs();
  auto t = loss_of("sparsereg", in);
  auto x = resize_bilinear(in.pred2, 20, 24);
  x = x / x.pow(2).sum(1, true).sqrt() / 0.5;
  auto ce = F::cross_entropy(x, in.labels.to(torch::kLong), F::CrossEntropyFuncOptions().ignore_index(255));
  auto reg = torch::softmax(x, 1).clamp(1e-7, 1).pow(0.01).sum(1).mean();
  EXPECT_NEAR(t.seg2.item<double>(), (ce + reg).item<double>(), 1e-5);
  EXPECT_EQ(t.aff2.item<double>(), 0);
}

TEST(AdaptationMethods, TentMinimisesEntropyWithoutLabels) {
  auto in = make_inputs();
  auto t = loss_of("tent", in);
  auto logp = torch::log_softmax(resize_bilinear(in.pred2, 20, 24), 1);
  EXPECT_NEAR(t.seg2.item<double>(), -(logp.exp() * logp).sum(1).mean().item<double>(), 1e-6);
  auto relabelled = in;
  relabelled.labels = torch::zeros_like(in.labels);
  EXPECT_EQ(loss_of("tent", relabelled).total.item<double>(), t.total.item<double>());  // labels give the size only
  EXPECT_EQ(loss_of("tent_offline", in).total.item<double>(), t.total.item<double>());
}

TEST(AdaptationMethods, LogitAdjustmentAddsTheScaledPrior) {
  auto in = make_inputs();
  auto o = small_options();
  o.prior_tau = 0.5;
  auto t = loss_of("ce_prior", in, o);
  auto adjusted = in.pred2 + 0.5 * in.dist.log().view({1, -1, 1, 1});
  EXPECT_NEAR(t.seg2.item<double>(), reference_ce(adjusted, in.labels).item<double>(), 1e-6);
  o.prior_tau = 0;
  EXPECT_NEAR(loss_of("ce_prior", in, o).total.item<double>(), loss_of("ce", in, o).total.item<double>(), 1e-7);
  auto no_prior = in;
  no_prior.dist = torch::Tensor();
  EXPECT_THROW(loss_of("ce_prior", no_prior), std::invalid_argument);
}
