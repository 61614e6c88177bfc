#include <gtest/gtest.h>

#include <filesystem>

#include "adapters/io/h5_store.h"
#include "adapters/foundation/error.h"
#include "pipeline/model/deeplab.h"
#include "pipeline/model/model_io.h"
#include "pipeline/model/model_kinds.h"
#include "tests/support/temp_dir.h"
#include "tests/support/user_error.h"

using namespace jcas;
namespace fs = std::filesystem;

namespace {

ModelOptions tiny(int feat2 = 16) {
  ModelOptions o;
  o.width = 8;
  o.head_width = 8;
  o.feat1_dim = 8;
  o.feat2_dim = feat2;
  return o;
}

}  // namespace

TEST(ModelIo, RoundTripParametersAndBuffers) {
  torch::manual_seed(0);
  DeepLab a(tiny());
  // Running statistics must travel too: train once so they differ from their initial values.
  a->train();
  a->forward(torch::randn({2, 3, 32, 40}) * 3 + 1);
  jcas::testing::TempDir dir;
  auto path = dir.path() / "roundtrip.h5";
  {
    H5Writer w(path);
    write_module(w, "model", *a);
    w.commit();
  }
  torch::manual_seed(1);
  DeepLab b(tiny());
  read_module(H5Reader(path), "model", *b);
  auto pa = a->named_parameters(), pb = b->named_parameters();
  for (const auto& p : pa) EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << p.key();
  auto ba = a->named_buffers(), bb = b->named_buffers();
  ASSERT_GT(ba.size(), 0u);
  for (const auto& p : ba) EXPECT_TRUE(torch::equal(p.value(), bb[p.key()])) << p.key();
  EXPECT_EQ(bb["backbone.stem.1.num_batches_tracked"].item<int64_t>(), 1);
  // Same outputs in eval mode = the whole state was restored.
  a->eval();
  b->eval();
  auto x = torch::randn({1, 3, 32, 40});
  EXPECT_TRUE(torch::equal(a->forward(x).pred2, b->forward(x).pred2));
  // One dataset per tensor with the dotted name, readable without LibTorch's serialisation.
  H5Reader r(path);
  EXPECT_TRUE(r.has("model/backbone.stage1.0.conv1.weight"));
  EXPECT_EQ(r.describe("model/backbone.stage1.0.conv1.weight").first, (std::vector<int64_t>{8, 8, 3, 3}));
  EXPECT_EQ(r.list("model").size(), pa.size() + ba.size());
  fs::remove(path);
}

TEST(ModelIo, MismatchesNameFileAndTensor) {
  DeepLab a(tiny(16));
  jcas::testing::TempDir dir;
  auto path = dir.path() / "mismatch.h5";
  {
    H5Writer w(path);
    write_module(w, "model", *a);
    w.commit();
  }
  DeepLab wider(tiny(24));
  auto msg = jcas::testing::user_error_of([&] { read_module(H5Reader(path), "model", *wider); });
  EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("main_head.project.0.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("shape"), std::string::npos) << msg;

  ModelOptions deeper = tiny(16);
  deeper.blocks = {1, 1, 2, 3};
  DeepLab d(deeper);
  msg = jcas::testing::user_error_of([&] { read_module(H5Reader(path), "model", *d); });
  EXPECT_NE(msg.find("model/backbone.stage4.2."), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing"), std::string::npos) << msg;

  ModelOptions shallower = tiny(16);
  shallower.blocks = {1, 1, 2, 1};
  DeepLab s(shallower);
  msg = jcas::testing::user_error_of([&] { read_module(H5Reader(path), "model", *s); });
  EXPECT_NE(msg.find("backbone.stage4.1."), std::string::npos) << msg;
  EXPECT_NE(msg.find("not part of the model"), std::string::npos) << msg;

  msg = jcas::testing::user_error_of([&] { read_module(H5Reader(path), "weights", *a); });
  EXPECT_NE(msg.find("weights"), std::string::npos) << msg;
  fs::remove(path);
}

// A model's description rebuilds the same network (the kind table), and a kind this jcas does not
// know is one error naming the file and the kind.
TEST(ModelKinds, DescriptionRebuildsTheNetworkAndRejectsAForeignKind) {
  ModelOptions o = tiny(12);
  o.head_width = ModelOptions{}.head_width;  // not an option (nothing binds it): stored models have the default
  o.num_classes = 3;
  o.embedding = "separate";
  DeepLab net(o);
  const ModelDescription d = net->describe();
  EXPECT_EQ(d.kind, "deeplab");
  EXPECT_TRUE(d.program.empty());
  auto rebuilt = rebuild_model(d, 3, "model.h5");
  EXPECT_EQ(rebuilt->describe().architecture, d.architecture);
  EXPECT_EQ(rebuilt->num_classes(), 3);
  const ModuleState a = net->state(), b = rebuilt->state();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_EQ(a[i].second.sizes(), b[i].second.sizes()) << a[i].first;
  }

  ModelDescription foreign = d;
  foreign.kind = "onnx";
  const std::string message = jcas::testing::user_error_of([&] { rebuild_model(foreign, 3, "model.h5"); });
  EXPECT_NE(message.find("model.h5"), std::string::npos) << message;
  EXPECT_NE(message.find("'onnx'"), std::string::npos) << message;
}
