// The SFDA baselines and the reference-fidelity options of retraining, end to end on the tiny
// pipeline: what each changes in the model, and what it must leave exactly as it was.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "adapters/io/h5_store.h"
#include "adapters/io/segmentation_dataset.h"
#include "tests/support/cli_runner.h"
#include "pipeline/model/batchnorm_layers.h"
#include "pipeline/model/deeplab.h"
#include "pipeline/execution/execution_context.h"
#include "pipeline/training/batchnorm_recalibration.h"
#include "pipeline/training/inference.h"
#include "pipeline/training/pseudo_label_filters.h"
#include "tests/tools/tiny_pipeline.h"

namespace fs = std::filesystem;
using namespace jcas;
using namespace jcas::testing;

namespace {

using Weights = std::map<std::string, torch::Tensor>;

Weights model_of(const fs::path& h5) {
  H5Reader in(h5);
  Weights w;
  for (const auto& name : in.list("model")) w[name] = in.read("model/" + name);
  return w;
}

// The BatchNorm layers' names (prefixes holding running statistics) of a stored model.
std::set<std::string> batchnorm_prefixes(const Weights& w) {
  std::set<std::string> out;
  const std::string suffix = ".running_mean";
  for (const auto& [name, t] : w)
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      out.insert(name.substr(0, name.size() - suffix.size()));
  return out;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

bool is_batchnorm_affine(const std::string& name, const std::set<std::string>& bn) {
  for (const char* p : {".weight", ".bias"})
    if (ends_with(name, p) && bn.count(name.substr(0, name.size() - std::string(p).size()))) return true;
  return false;
}

bool is_statistic(const std::string& name) {
  return ends_with(name, ".running_mean") || ends_with(name, ".running_var") || ends_with(name, ".num_batches_tracked");
}

fs::path run_method(const std::string& name, const std::vector<std::string>& extra) {
  fs::path d = copy_of_completed(name);
  auto r = run_jcas(concat(concat({"run"}, tiny_options(d)), extra));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return d;
}

// The train split of write_small_datasets' target, without labels.
SegmentationDataset small_target_train(const std::string& name) {
  const fs::path data = fresh_dir(name);
  const std::string written = write_small_datasets(data);
  if (!written.empty()) throw std::runtime_error("write_small_datasets: " + written);
  DatasetOptions o;
  o.root = (data / "target").string();
  return SegmentationDataset(o, "train", false);
}

}  // namespace

TEST(SfdaMethods, AdabnChangesOnlyBatchNormStatistics) {
  fs::path d = run_method("adabn", {"--retrain.method", "adabn"});
  const Weights source = model_of(completed_workdir() / "source.h5"), adapted = model_of(d / "round-0" / "retrain.h5");
  ASSERT_EQ(source.size(), adapted.size());
  int changed_statistics = 0;
  for (const auto& [name, t] : source) {
    if (is_statistic(name)) {
      changed_statistics += !torch::equal(t, adapted.at(name));
    } else {
      EXPECT_TRUE(torch::equal(t, adapted.at(name))) << name << " changed without a gradient step";
    }
  }
  EXPECT_GT(changed_statistics, 0);
  H5Reader retrain(d / "round-0" / "retrain.h5");
  EXPECT_EQ(retrain.attr_int("/", "selected_epoch"), 0);
  EXPECT_GE(metric_of(d / "round-0" / "evaluate.h5", "test_mjac"), 0.0);  // evaluated (the tiny model is weak)
}

TEST(SfdaMethods, TentTrainsBatchNormAffineOnly) {
  fs::path d = run_method("tent", {"--retrain.method", "tent"});
  const Weights source = model_of(completed_workdir() / "source.h5"), adapted = model_of(d / "round-0" / "retrain.h5");
  const auto bn = batchnorm_prefixes(source);
  ASSERT_FALSE(bn.empty());
  int affine_changed = 0;
  for (const auto& [name, t] : source) {
    if (is_statistic(name)) continue;
    if (is_batchnorm_affine(name, bn))
      affine_changed += !torch::equal(t, adapted.at(name));
    else
      EXPECT_TRUE(torch::equal(t, adapted.at(name))) << name << " is not a BatchNorm weight and changed";
  }
  EXPECT_GT(affine_changed, 0);
  // Tent as its paper runs it: one online pass whatever --retrain.epochs says, read out with each
  // image's own BatchNorm statistics (the read-out the next round's labels and the scores use).
  H5Reader retrain(d / "round-0" / "retrain.h5");
  EXPECT_EQ(retrain.attr_int("/", "selected_epoch"), 1);
  EXPECT_EQ(retrain.attr_string("model", "inference"), "softmax+image_statistics");
}

TEST(SfdaMethods, FrozenPartsStayExactlyAsTheyWere) {
  fs::path d = run_method("freeze", {"--retrain.method", "ce", "--retrain.freeze", "bn_stats,bn_affine,early",
                                     "--pseudo_label.adabn", "false"});
  const Weights source = model_of(completed_workdir() / "source.h5"), adapted = model_of(d / "round-0" / "retrain.h5");
  const auto bn = batchnorm_prefixes(source);
  int trained = 0;
  for (const auto& [name, t] : source) {
    const bool early = name.rfind("backbone.stem", 0) == 0 || name.rfind("backbone.stage1", 0) == 0 ||
                       name.rfind("backbone.stage2", 0) == 0;
    if (early || is_statistic(name) || is_batchnorm_affine(name, bn))
      EXPECT_TRUE(torch::equal(t, adapted.at(name))) << name << " is frozen and changed";
    else
      trained += !torch::equal(t, adapted.at(name));
  }
  EXPECT_GT(trained, 0);
  // An unknown part is one clear error.
  auto r = run_jcas(concat(concat({"run"}, tiny_options(copy_of_completed("freeze_bad"))), {"--retrain.freeze", "bn"}));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--retrain.freeze: unknown part 'bn'"), std::string::npos) << r.output;
}

TEST(SfdaMethods, FiltersTrainOnTheKeptPixelsOnly) {
  // Without the class normalisation and with the schedule starting at 0.5: exactly half of each class.
  fs::path exact = run_method("cbst_exact", {"--retrain.method", "cbst", "--retrain.cbst_start", "0.5",
                                             "--retrain.cbst_normalised", "false"});
  const double kept = metric_of(exact / "round-0" / "retrain.h5", "kept_labels");
  EXPECT_NEAR(kept, 0.5, 0.001);  // half of each class (rounded up per class), ties at 255 included
  // CBST's defaults: round 0 at 20 % of each class, relabelled class-normalised; the record has each
  // class's share.
  fs::path cbst = run_method("cbst", {"--retrain.method", "cbst"});
  const fs::path record = cbst / "round-0" / "retrain.h5";
  EXPECT_GT(metric_of(record, "kept_labels"), 0.0);
  EXPECT_LT(metric_of(record, "kept_labels"), 0.5);
  for (const char* c : {"kept_labels_class0", "kept_labels_class1"})  // above 1 where pixels moved into the class
    EXPECT_GE(metric_of(record, c), 0.0) << c;
  fs::path dpl = run_method("jcas_dpl", {"--retrain.method", "jcas_dpl"});
  const double dpl_kept = metric_of(dpl / "round-0" / "retrain.h5", "kept_labels");
  EXPECT_GT(dpl_kept, 0.0);
  EXPECT_LE(dpl_kept, 1.0);
}

TEST(SfdaMethods, UpperBoundTrainsOnTheTruth) {
  fs::path d = run_method("truth", {"--retrain.method", "ce", "--retrain.labels", "truth"});
  EXPECT_GE(metric_of(d / "round-0" / "evaluate.h5", "test_mjac"), 0.0);
}

TEST(SfdaMethods, AdabnBeforeLabellingIsAnOptionOfBothStages) {
  fs::path d = copy_of_completed("pl_adabn");
  auto r = run_jcas(concat(concat({"run"}, tiny_options(d)), {"--pseudo_label.adabn", "false"}));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(stages_run(r.output), (std::vector<std::string>{"pseudo_label[0]", "estimate_ntm[0]", "derive_affinity[0]",
                                                            "retrain[0]", "evaluate[0]", "criteria[0]"}))
      << r.output;
  EXPECT_EQ(r.output.find("AdaBN: BatchNorm statistics"), std::string::npos) << r.output;
  // The default labels with the recalibrated model, and retraining starts from it again.
  auto log = read_text(completed_workdir() / "jcas.log");
  EXPECT_NE(log.find("pseudo_label[0] AdaBN: BatchNorm statistics"), std::string::npos);
  EXPECT_NE(log.find("retrain[0] AdaBN: BatchNorm statistics"), std::string::npos);
}

// AdaBN's statistics are those of the target images: for the stem's BatchNorm (whose input is the
// first convolution of the image) they equal the per-channel mean and variance of that
// convolution's output over every image, whatever the layer's momentum.
TEST(BatchNormRecalibration, EqualsTheStatisticsOfTheTargetImages) {
  const SegmentationDataset images = small_target_train("adabn_data");
  ModelOptions mo;
  mo.width = 8;
  mo.feat1_dim = mo.feat2_dim = 16;
  for (double momentum : {0.1, 0.01, -1.0}) {  // -1: None (cumulative average)
    torch::manual_seed(3);
    DeepLab net(mo);
    for (const auto& m : net->modules(false))
      if (auto* bn = m->as<SyncBatchNorm2dImpl>())
        bn->options.momentum(momentum < 0 ? c10::optional<double>() : c10::optional<double>(momentum));
    recalibrate_batchnorm(*net, images, ExecutionContext{}, "test");
    torch::nn::Module& stem = *net->named_modules()["backbone.stem"];
    auto conv = stem.named_children()[0].value();
    std::vector<torch::Tensor> xs;
    for (size_t i = 0; i < images.size(); ++i) xs.push_back(images.get(i).image);
    torch::NoGradGuard no_grad;
    auto y = conv->as<torch::nn::Conv2dImpl>()->forward(torch::stack(xs));
    auto mean = y.mean({0, 2, 3});
    auto var = y.var({0, 2, 3}, /*unbiased=*/false);
    auto bn = stem.named_children()[1].value()->as<SyncBatchNorm2dImpl>();
    EXPECT_TRUE(torch::allclose(bn->running_mean, mean, 1e-4, 1e-5)) << "momentum " << momentum;
    EXPECT_TRUE(torch::allclose(bn->running_var, var, 2e-3, 1e-5)) << "momentum " << momentum;
  }
}

TEST(LabelFilters, ClassBalancedKeepsTheMostConfidentShareOfEachClass) {
  // Class 0 covers 8 pixels with confidences 10..80, class 1 covers 4 with 200..230: half of each stays.
  auto labels = torch::tensor({0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1}, torch::kUInt8).view({1, 3, 4});
  auto conf = torch::tensor({10, 20, 30, 40, 50, 60, 70, 80, 200, 210, 220, 230}, torch::kUInt8).view({1, 3, 4});
  ModelOptions mo;
  mo.num_classes = 2;
  mo.width = 8;
  DeepLab net(mo);  // not run by this filter
  const SegmentationDataset images = small_target_train("cbst_data");
  LabelFilterOptions fo;
  fo.cbst_portion = 0.5;
  fo.cbst_start = 0.5;
  fo.cbst_normalised = false;
  auto f = filter_pseudo_labels(LabelFilter::class_balanced, labels, conf, *net, images, InferenceMode{}, fo, 0,
                                ExecutionContext{});
  auto expected =
      torch::tensor({255, 255, 255, 255, 0, 0, 0, 0, 255, 255, 1, 1}, torch::kUInt8).view({1, 3, 4});
  EXPECT_TRUE(torch::equal(f.labels, expected)) << f.labels;
  EXPECT_DOUBLE_EQ(f.kept, 0.5);

  // Ties: 6 of class 0's 8 pixels at 255 (as 8-bit confidences often are); half is still 4 pixels,
  // all at 255, whichever of the tied ones.
  conf = torch::tensor({255, 255, 255, 255, 255, 255, 70, 80, 200, 210, 220, 230}, torch::kUInt8).view({1, 3, 4});
  f = filter_pseudo_labels(LabelFilter::class_balanced, labels, conf, *net, images, InferenceMode{}, fo, 0,
                           ExecutionContext{});
  auto kept0 = (f.labels == 0);
  EXPECT_EQ(kept0.sum().item<int64_t>(), 4);
  EXPECT_EQ((kept0 & (conf == 255)).sum().item<int64_t>(), 4);
  EXPECT_DOUBLE_EQ(f.kept, 0.5);
  EXPECT_TRUE(torch::equal(f.kept_per_class, torch::tensor({0.5, 0.5}, torch::kFloat64)));
}

// CBST's schedule (Zou et al.: 20 %, 5 % more every round, at most 50 %) and its class-normalised
// labels against their formula: each pixel relabelled argmax_c p_c / λ_c, kept where that is >= 1,
// λ_c the probability at class c's top share of the pixels predicted c.
TEST(LabelFilters, ClassNormalisedLabelsFollowCbstsFormula) {
  LabelFilterOptions fo;
  EXPECT_DOUBLE_EQ(fo.cbst_share(0), 0.2);
  EXPECT_DOUBLE_EQ(fo.cbst_share(1), 0.25);
  EXPECT_DOUBLE_EQ(fo.cbst_share(9), 0.5);
  const SegmentationDataset images = small_target_train("cbst_normalised");
  torch::manual_seed(3);
  ModelOptions mo;
  mo.num_classes = static_cast<int>(images.num_classes());
  mo.width = 8;
  DeepLab net(mo);
  {  // classifiers with larger weights: confidences spread over many 8-bit steps, not one
    torch::NoGradGuard no_grad;
    for (auto& [name, t] : net->state())
      if (t.dim() == 4 && t.size(0) == mo.num_classes) t.mul_(30);
  }
  std::vector<torch::Tensor> probs, labels, conf;
  predict_dataset(*net, images, InferenceMode{}, ExecutionContext{}, "test", [&](size_t, const Sample&, const torch::Tensor& p) {
    probs.push_back(p);
    auto [c, arg] = p.max(0);
    labels.push_back(arg.to(torch::kUInt8));
    conf.push_back((c * 255).round().to(torch::kUInt8));
  });
  const auto l = torch::stack(labels), q = torch::stack(conf), p = torch::stack(probs);
  const int k = mo.num_classes;
  auto lambda = torch::full({1, k, 1, 1}, std::numeric_limits<float>::infinity());
  const double share = fo.cbst_share(1);
  const auto top = std::get<0>(p.max(1));
  for (int c = 0; c < k; ++c) {
    auto pc = std::get<0>(top.masked_select(l == c).sort(0, /*descending=*/true));
    if (pc.numel() == 0) continue;
    lambda[0][c] = pc[static_cast<int64_t>(std::ceil(share * static_cast<double>(pc.numel()))) - 1];
  }
  auto [ratio, arg] = (p / lambda).max(1);
  auto expected = arg.to(torch::kUInt8).masked_fill(ratio < 1, 255);
  auto f = filter_pseudo_labels(LabelFilter::class_balanced, l, q, *net, images, InferenceMode{}, fo, 1,
                                ExecutionContext{});
  EXPECT_TRUE(torch::equal(f.labels, expected));
  EXPECT_GT(f.kept, 0.0);
  EXPECT_LT(f.kept, 1.0);
}
