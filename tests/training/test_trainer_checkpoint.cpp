// The trainer in-process: a run interrupted after an epoch resumes from its checkpoint to exactly
// the weights, learned NTMs and selected epoch of a run that was never interrupted; a checkpoint
// made with other options is not resumed.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <stdexcept>

#include "adapters/io/segmentation_dataset.h"
#include "data/synthetic_endoscopy.h"
#include "pipeline/model/deeplab.h"
#include "pipeline/training/adaptation_registry.h"
#include "pipeline/training/trainer.h"
#include "tests/support/temp_dir.h"

using namespace jcas;
namespace fs = std::filesystem;

namespace {

class TrainerCheckpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    SynthOptions s;
    s.out = (dir.path() / "data").string();
    s.source_train = 1, s.source_val = 1, s.source_test = 1;
    s.target_train = 5, s.target_val = 1, s.target_test = 1;
    s.height = 32, s.width = 40;
    s.progress = false;
    generate_synthetic_dataset(s);
    DatasetOptions d;
    d.root = s.out + "/target";
    images = std::make_unique<SegmentationDataset>(d, "train");
    std::vector<size_t> all(images->size());
    for (size_t i = 0; i < all.size(); ++i) all[i] = i;
    labels = images->batch(all).second;
  }

  struct Run {
    TrainResult result;
    ModuleState model;
    std::vector<torch::Tensor> ntms;
  };

  // Three epochs of JCAS training (batch 2: three steps an epoch, the last short) from a model
  // built with `init_seed`; the validation score peaks at epoch 2, so the kept weights are epoch
  // 2's. `stop_in_epoch` > 0 throws in that epoch's validation, after the previous checkpoint;
  // `resumes_after`: the epochs a resumed run will not validate again.
  Run train(const std::string& key, uint64_t init_seed, int stop_in_epoch = 0, int resumes_after = 0) {
    torch::manual_seed(init_seed);
    ModelOptions mo;
    mo.width = 8, mo.head_width = 8, mo.feat1_dim = 8, mo.feat2_dim = 16;
    DeepLab model(mo);
    JcasLossOptions lo;
    lo.affinity_h = 4, lo.affinity_w = 5;
    SegmentationLoss loss = adaptation_method("jcas").loss(mo.num_classes, lo, MethodSettings());
    TrainerOptions o;
    o.epochs = 3;
    o.batch_size = 2;
    o.seed = 7;
    o.optimizer = optimizer;
    o.bfloat16 = bfloat16;
    o.checkpoint = dir.path() / "train.checkpoint.h5";
    o.checkpoint_key = key;
    int epoch = resumes_after;
    auto validate = [&](SegmentationModel&) {
      if (++epoch == stop_in_epoch) throw std::runtime_error("stopped");
      return std::vector<double>{0.1, 0.5, 0.3}[epoch - 1];
    };
    Run run;
    run.result = train_model(*model, *loss, nullptr, *images, labels, torch::tensor({0.7f, 0.1f, 0.1f, 0.1f}), o,
                             ExecutionContext{}, validate);
    for (const auto& [name, t] : model->state()) run.model.emplace_back(name, t.clone());
    for (const auto& p : loss->parameters()) run.ntms.push_back(p.detach().clone());
    return run;
  }

  // Trains, stops in epoch 3, resumes from the epoch-2 checkpoint and expects the uninterrupted run.
  void expect_exact_resume();

  Optimizer optimizer = Optimizer::sgd;  // the optimiser's state is part of the checkpoint
  bool bfloat16 = false;                 // TrainerOptions::bfloat16 (--precision bfloat16)
  jcas::testing::TempDir dir;
  std::unique_ptr<SegmentationDataset> images;
  torch::Tensor labels;
};

void expect_identical(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "tensor " << i;
}

void expect_identical(const ModuleState& a, const ModuleState& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
  }
}

}  // namespace

void TrainerCheckpoint::expect_exact_resume() {
  const Run whole = train("key", 0);
  fs::remove(dir.path() / "train.checkpoint.h5");
  EXPECT_EQ(whole.result.resumed_from, 0);
  EXPECT_EQ(whole.result.selected_epoch, 2);
  ASSERT_FALSE(whole.ntms.empty());

  EXPECT_THROW(train("key", 0, /*stop_in_epoch=*/3), std::runtime_error);
  ASSERT_TRUE(fs::exists(dir.path() / "train.checkpoint.h5"));
  // Another initialisation: whatever the checkpoint restores must be all that decides the result.
  const Run resumed = train("key", 99, 0, /*resumes_after=*/2);
  EXPECT_EQ(resumed.result.resumed_from, 2);
  EXPECT_EQ(resumed.result.selected_epoch, 2);
  ASSERT_EQ(resumed.result.epochs.size(), 3u);
  for (int e = 0; e < 3; ++e) {
    EXPECT_EQ(resumed.result.epochs[e].loss, whole.result.epochs[e].loss) << "epoch " << e + 1;
    EXPECT_EQ(resumed.result.epochs[e].validation, whole.result.epochs[e].validation) << "epoch " << e + 1;
  }
  expect_identical(resumed.model, whole.model);
  expect_identical(resumed.ntms, whole.ntms);
}

TEST_F(TrainerCheckpoint, AnInterruptedRunResumesToTheUninterruptedResult) { expect_exact_resume(); }

TEST_F(TrainerCheckpoint, AnInterruptedAdamRunResumesToTheUninterruptedResult) {
  optimizer = Optimizer::adam;
  expect_exact_resume();
}

TEST_F(TrainerCheckpoint, ACheckpointOfOtherOptionsIsNotResumed) {
  EXPECT_THROW(train("key", 0, /*stop_in_epoch=*/2), std::runtime_error);
  const Run other = train("other key", 0);
  EXPECT_EQ(other.result.resumed_from, 0);
  EXPECT_EQ(other.result.epochs.size(), 3u);
}

// --precision bfloat16: the same run with the forward passes under CPU autocast. Its losses follow
// float32's (bfloat16 keeps 8 bits of mantissa) but not exactly, so the autocast took effect; the
// weights stay float32.
TEST_F(TrainerCheckpoint, Bfloat16AutocastTrainsCloseToButNotExactlyAsFloat32) {
  const Run f32 = train("float32", 0);
  fs::remove(dir.path() / "train.checkpoint.h5");
  bfloat16 = true;
  const Run bf16 = train("bfloat16", 0);
  ASSERT_EQ(bf16.result.epochs.size(), 3u);
  for (int e = 0; e < 3; ++e) {
    const double a = f32.result.epochs[e].loss, b = bf16.result.epochs[e].loss;
    EXPECT_NE(a, b) << "epoch " << e + 1;
    EXPECT_NEAR(b, a, 0.05 * std::abs(a)) << "epoch " << e + 1;
  }
  for (const auto& [name, t] : bf16.model) {
    if (!t.is_floating_point()) continue;
    EXPECT_EQ(t.scalar_type(), torch::kFloat32) << name;
    EXPECT_TRUE(torch::isfinite(t).all().item<bool>()) << name;
  }
}
