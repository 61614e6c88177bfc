// The read-outs inference applies: with image_statistics (Tent's), BatchNorm normalises each image
// by its own statistics, so a prediction does not depend on the batch it came in, and the model's
// running statistics are left as they were.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "pipeline/model/batchnorm_layers.h"
#include "pipeline/model/deeplab.h"
#include "pipeline/model/model_io.h"
#include "pipeline/training/inference.h"

using namespace jcas;

TEST(InferenceReadout, ImageStatisticsNormaliseEachImageAlone) {
  torch::manual_seed(5);
  ModelOptions mo;
  mo.width = 4, mo.head_width = 8, mo.feat1_dim = 8, mo.feat2_dim = 8;
  DeepLab model(mo);
  for (auto& l : batchnorm_layers(*model)) {  // running statistics far from any image's own
    l.running_mean.normal_(0.5, 0.2);
    l.running_var.uniform_(2, 3);
  }
  const ModuleState before = clone_state(model->state());
  const auto images = torch::randn({3, 3, 24, 32});

  InferenceMode own;
  own.image_statistics = true;
  const auto together = predict_batch(*model, images, own);
  for (int64_t i = 0; i < 3; ++i) {
    const auto alone = predict_batch(*model, images.narrow(0, i, 1), own);
    EXPECT_TRUE(torch::equal(alone[0], together[i])) << "image " << i << " depends on its batch-mates";
  }
  predict_batch(*model, images, own);
  const ModuleState after = model->state();
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i)
    EXPECT_TRUE(torch::equal(after[i].second, before[i].second)) << after[i].first << " changed by the read-out";

  const auto running = predict_batch(*model, images, InferenceMode{});
  EXPECT_GT((running - together).abs().max().item<double>(), 1e-3) << "the running statistics were used";

  // Against the definition (last: it moves the running statistics): BatchNorm in training mode on
  // the image alone.
  {
    torch::NoGradGuard no_grad;
    model->set_training(false);
    model->set_batchnorm_training(true);
    const auto out = model->forward(images.narrow(0, 1, 1));
    const auto expected = predict_probabilities(out.feat2, out.pred2, 24, 32, InferenceMode{});
    EXPECT_TRUE(torch::allclose(together[1], expected[0], 1e-6, 1e-6));
    model->set_batchnorm_training(false);
  }
}

TEST(InferenceReadout, NamesRoundTrip) {
  for (const char* name : {"softmax", "dar", "dar_affinity", "softmax+image_statistics", "dar+image_statistics"}) {
    InferenceMode m;
    ASSERT_TRUE(m.set_readout(name)) << name;
    EXPECT_EQ(m.readout(), name);
  }
  InferenceMode m;
  ASSERT_TRUE(m.set_readout("softmax+image_statistics"));
  EXPECT_TRUE(m.image_statistics && !m.dar);
  for (const char* bad : {"softmax+", "+image_statistics", "softmax+batch", "tent"}) EXPECT_FALSE(m.set_readout(bad)) << bad;
}
