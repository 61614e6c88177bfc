// The native backbone presets against torchvision's architectures, and loading torchvision's
// weights by name (the PyTorch side is checked in tests/python/test_interop.py).
#include <gtest/gtest.h>
#include <torch/serialize.h>

#include <fstream>
#include <regex>

#include "adapters/foundation/error.h"
#include "pipeline/model/deeplab.h"
#include "pipeline/model/torchvision_weights.h"
#include "tests/support/temp_dir.h"
#include "tests/support/user_error.h"

using namespace jcas;

namespace {

int64_t backbone_numel(const DeepLab& m) {
  int64_t n = 0;
  for (const auto& p : m->named_parameters())
    if (p.key().rfind("backbone.", 0) == 0) n += p.value().numel();
  return n;
}

DeepLab model(const std::string& preset) {
  ModelOptions o;
  o.preset = preset;
  o.num_classes = 2;
  return DeepLab(o);
}

// torchvision's names, written out per architecture (torchvision/models/resnet.py, mobilenetv2.py).
std::string torchvision_name(const std::string& preset, const std::string& name) {
  std::smatch m;
  if (preset == "resnet101") {
    std::string out = std::regex_replace(name, std::regex(R"(^backbone\.stem\.0\.)"), "conv1.");
    out = std::regex_replace(out, std::regex(R"(^backbone\.stem\.1\.)"), "bn1.");
    return std::regex_replace(out, std::regex(R"(^backbone\.stage(\d)\.)"), "layer$1.");
  }
  const std::map<std::string, int> first = {{"stem", 0}, {"stage1", 2}, {"stage2", 4}, {"stage3", 7}, {"stage4", 14}};
  EXPECT_TRUE(std::regex_match(name, m, std::regex(R"(backbone\.(\w+)\.(\d+)\.(.*))"))) << name;
  return "features." + std::to_string(first.at(m[1]) + std::stoi(m[2])) + "." + m[3].str();
}

// A torchvision-named file of random tensors shaped like `m`'s backbone, plus `extra`.
c10::Dict<std::string, at::Tensor> torchvision_like(const DeepLab& m) {
  c10::Dict<std::string, at::Tensor> d;
  for (const auto& [name, t] : m->state())
    if (name.rfind("backbone.", 0) == 0)
      d.insert(torchvision_name(m->options().preset, name),
               t.is_floating_point() ? torch::randn_like(t) : torch::full_like(t, 7));
  return d;
}

void write(const c10::Dict<std::string, at::Tensor>& d, const std::filesystem::path& file) {
  const std::vector<char> bytes = torch::pickle_save(c10::IValue(d));
  std::ofstream(file, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

using jcas::testing::user_error_of;

}  // namespace

TEST(TorchvisionWeights, MobileNetV2PresetIsTorchvisionsFeaturesDilated) {
  DeepLab m = model("mobilenet_v2");
  // torchvision's mobilenet_v2: 3,504,872 parameters, of which the classifier 1,281,000 and
  // features.18 (1x1 conv 320 -> 1280 + BatchNorm) 412,160 are left out.
  EXPECT_EQ(backbone_numel(m), 3504872 - 1281000 - 412160);
  m->eval();
  torch::NoGradGuard g;
  auto out = m->forward(torch::randn({1, 3, 64, 80}));
  EXPECT_EQ(out.pred1.sizes().vec(), (std::vector<int64_t>{1, 2, 8, 10}));  // output stride 8
  EXPECT_EQ(out.pred2.sizes().vec(), (std::vector<int64_t>{1, 2, 8, 10}));
  auto named = m->named_parameters();
  EXPECT_EQ(named["aux_head.branches.0.weight"].size(1), 96);
  EXPECT_EQ(named["main_head.branches.0.weight"].size(1), 320);
}

TEST(TorchvisionWeights, Resnet101PresetHasTorchvisionsParameterCount) {
  // torchvision's resnet101: 44,549,160 parameters, of which fc 2,049,000.
  EXPECT_EQ(backbone_numel(model("resnet101")), 44549160 - 2049000);
}

TEST(TorchvisionWeights, LoadsEveryBackboneTensorByTorchvisionsNames) {
  jcas::testing::TempDir dir;
  for (const std::string preset : {"mobilenet_v2", "resnet101"}) {
    torch::manual_seed(1);
    DeepLab m = model(preset);
    auto file = torchvision_like(m);
    file.insert(preset == "resnet101" ? "fc.weight" : "classifier.1.weight", torch::zeros({3}));
    write(file, dir.path() / "w.pt");
    const auto heads_before = m->named_parameters()["main_head.classifier.weight"].clone();
    const BackboneWeightsImport report = load_torchvision_backbone(*m, (dir.path() / "w.pt").string());
    int backbone_tensors = 0;
    for (const auto& [name, t] : m->state()) {
      if (name.rfind("backbone.", 0) != 0) continue;
      ++backbone_tensors;
      EXPECT_TRUE(torch::equal(t, file.at(torchvision_name(preset, name)).to(t.scalar_type())))
          << preset << " " << name;
    }
    EXPECT_EQ(report.copied, backbone_tensors) << preset;
    EXPECT_EQ(report.ignored, (std::vector<std::string>{preset == "resnet101" ? "fc.weight" : "classifier.1.weight"}));
    EXPECT_TRUE(torch::equal(m->named_parameters()["main_head.classifier.weight"], heads_before)) << "heads untouched";
  }
}

TEST(TorchvisionWeights, ForeignMissingOrMisshapenFilesAreOneClearErrorAndChangeNothing) {
  jcas::testing::TempDir dir;
  DeepLab m = model("mobilenet_v2");
  const auto before = m->named_parameters()["backbone.stem.0.0.weight"].clone();
  const auto path = (dir.path() / "w.pt").string();

  std::ofstream(path) << "not a pickle";
  EXPECT_NE(user_error_of([&] { load_torchvision_backbone(*m, path); }).find("torchvision_backbone.py"),
            std::string::npos);

  auto file = torchvision_like(m);
  file.erase("features.17.conv.3.running_var");
  write(file, path);
  EXPECT_NE(user_error_of([&] { load_torchvision_backbone(*m, path); }).find("lacks 'features.17.conv.3.running_var'"),
            std::string::npos);

  file = torchvision_like(m);
  file.insert_or_assign("features.9.conv.1.0.weight", torch::zeros({384, 1, 5, 5}));
  write(file, path);
  EXPECT_NE(user_error_of([&] { load_torchvision_backbone(*m, path); }).find("384x1x5x5"), std::string::npos);
  EXPECT_TRUE(torch::equal(m->named_parameters()["backbone.stem.0.0.weight"], before));

  EXPECT_NE(user_error_of([&] { load_torchvision_backbone(*model("small"), path); }).find("no torchvision counterpart"),
            std::string::npos);
  EXPECT_NE(
      user_error_of([&] { load_torchvision_backbone(*m, (dir.path() / "absent.pt").string()); }).find("cannot open"),
      std::string::npos);
}
