// The registries of adaptation methods and NTM estimators: what each entry implies.
#include <gtest/gtest.h>

#include "adapters/foundation/error.h"
#include "pipeline/method/adaptation_methods.h"
#include "pipeline/method/ntm_estimators.h"

using namespace jcas;

TEST(AdaptationMethods, TheAblationRowsAndBaselines) {
  std::vector<std::string> names;
  for (const auto& m : adaptation_methods()) names.push_back(m.name);
  EXPECT_EQ(names, (std::vector<std::string>{"ce", "affinity", "dar", "calc", "jcas", "volmin", "sparsereg", "adabn",
                                             "tent", "ce_prior", "cbst", "dpl", "jcas_cbst", "jcas_dpl"}));
  std::vector<std::string> paper;
  for (const auto& m : adaptation_methods())
    if (m.paper_ablation) paper.push_back(m.name);
  EXPECT_EQ(paper, (std::vector<std::string>{"ce", "affinity", "dar", "calc", "jcas", "volmin", "sparsereg"}));
  EXPECT_THROW(adaptation_method("magic"), UserError);
  try {
    adaptation_method("magic");
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("jcas"), std::string::npos) << "lists the registered names: " << e.what();
  }
}

TEST(AdaptationMethods, SwitchesWarmUpAndInference) {
  JcasLossOptions base;
  base.lambda = 0.3;
  const auto& jcas = adaptation_method("jcas");
  auto lo = jcas.loss_options(base);
  EXPECT_EQ(lo.method, LossKind::jcas);
  EXPECT_TRUE(lo.affinity && lo.dar && lo.calc);
  EXPECT_DOUBLE_EQ(lo.lambda, 0.3);  // the base's weights are kept
  EXPECT_TRUE(jcas.corrects());
  auto warm = jcas.warmup_loss(lo);
  ASSERT_TRUE(warm.has_value());
  EXPECT_FALSE(warm->calc);  // the reference's warm-up: affinity + DAR without correction
  EXPECT_TRUE(warm->dar);
  EXPECT_TRUE(jcas.inference(base).dar);

  const auto& volmin = adaptation_method("volmin");
  EXPECT_TRUE(volmin.corrects());
  EXPECT_EQ(volmin.warmup_loss(volmin.loss_options(base))->method, LossKind::ce);
  EXPECT_FALSE(volmin.inference(base).dar);

  // The SFDA baselines: AdaBN takes no gradient step, Tent trains BatchNorm's affine parameters
  // on the entropy after AdaBN, the filters keep the loss and change the labels.
  EXPECT_FALSE(adaptation_method("adabn").trains);
  EXPECT_TRUE(adaptation_method("tent").adabn && adaptation_method("tent").batchnorm_affine_only);
  EXPECT_EQ(adaptation_method("tent").loss, LossKind::entropy);
  EXPECT_EQ(adaptation_method("cbst").filter, LabelFilter::class_balanced);
  EXPECT_EQ(adaptation_method("jcas_dpl").filter, LabelFilter::dpl);
  EXPECT_TRUE(adaptation_method("jcas_dpl").corrects());
  EXPECT_TRUE(adaptation_method("jcas_dpl").inference(base).dar);

  for (const char* plain : {"ce", "affinity", "dar", "sparsereg"}) {
    const auto& m = adaptation_method(plain);
    EXPECT_FALSE(m.corrects()) << plain;
    EXPECT_FALSE(m.warmup_loss(m.loss_options(base)).has_value()) << plain;
  }
  EXPECT_TRUE(adaptation_method("dar").inference(base).dar);
  EXPECT_FALSE(adaptation_method("affinity").inference(base).dar);
  EXPECT_TRUE(adaptation_method("calc").corrects());
}

TEST(NtmEstimators, Registry) {
  EXPECT_EQ(ntm_estimator_names(), (std::vector<std::string>{"confident", "anchor", "class_anchor", "oracle", "identity"}));
  for (const auto& e : ntm_estimators()) EXPECT_EQ(e.needs_clean_labels, e.name == "oracle") << e.name;
  EXPECT_THROW(ntm_estimator("psychic"), UserError);
}
