// Bring your own model: TorchScript modules (built here with torch::jit, as torch.jit.script would
// save them) are imported as the source model and adapted; a broken contract is one clear error
// when the model is loaded.
#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/serialize.h>

#include <filesystem>
#include <fstream>

#include "adapters/io/h5_store.h"
#include "tests/support/cli_runner.h"
#include "tests/tools/tiny_pipeline.h"

namespace fs = std::filesystem;
using namespace jcas::testing;

namespace {

// A small fully convolutional segmenter: 3x3 conv + ReLU "backbone", 1x1 "classifier" (and an
// "aux_classifier"), at stride 8 like the native network. `result` is the TorchScript expression
// the forward returns, over `feat` (the backbone's features) and `out`/`aux` (logits).
fs::path scripted(const fs::path& dir, const std::string& name, const std::string& result, int classes = 4) {
  torch::manual_seed(1);
  torch::jit::Module m("Segmenter");
  m.register_parameter("backbone_weight", torch::randn({8, 3, 3, 3}) * 0.2, false);
  m.register_parameter("backbone_bias", torch::zeros({8}), false);
  m.register_parameter("classifier_weight", torch::randn({classes, 8, 1, 1}) * 0.2, false);
  m.register_parameter("classifier_bias", torch::zeros({classes}), false);
  m.register_parameter("aux_classifier_weight", torch::randn({classes, 8, 1, 1}) * 0.2, false);
  m.register_parameter("aux_classifier_bias", torch::zeros({classes}), false);
  m.define(R"(
    def forward(self, x):
        feat = torch.relu(torch.conv2d(x, self.backbone_weight, self.backbone_bias, [8, 8], [1, 1]))
        out = torch.conv2d(feat, self.classifier_weight, self.classifier_bias)
        aux = torch.conv2d(feat, self.aux_classifier_weight, self.aux_classifier_bias)
        return )" + result + "\n");
  fs::create_directories(dir);
  const fs::path file = dir / (name + ".pt");
  m.save(file.string());
  return file;
}

double largest_difference(const fs::path& a, const fs::path& b) {
  jcas::H5Reader ra(a), rb(b);
  double worst = 0;
  for (const auto& name : ra.list("model"))
    worst = std::max(worst, (ra.read("model/" + name) - rb.read("model/" + name)).abs().max().item<double>());
  return worst;
}

}  // namespace

TEST(TorchScript, EveryOutputFormAdapts) {
  const fs::path dir = fresh_dir("torchscript");
  const std::vector<std::pair<std::string, std::string>> forms = {
      {"dict", R"({"out": out, "aux": aux})"},
      {"dict_feat", R"({"out": out, "feat": feat})"},
      {"tensor", "out"},
      {"tuple", "(feat, feat, aux, out)"}};
  for (const auto& [name, result] : forms) {
    const fs::path w = dir / ("work_" + name);
    auto r = run_jcas(concat({"run", "--source.torchscript", scripted(dir, name, result).string()}, tiny_options(w)));
    ASSERT_EQ(r.exit_code, 0) << name << "\n" << r.output;
    EXPECT_NE(r.output.find("imported the TorchScript model"), std::string::npos) << r.output;
    // Its own parameters were trained in C++: the adapted model differs from the imported one.
    EXPECT_GT(largest_difference(w / "source.h5", w / "round-0" / "retrain.h5"), 1e-6) << name;
    jcas::H5Reader stored(w / "round-0" / "retrain.h5");
    EXPECT_EQ(stored.attr_string("model", "kind"), "torchscript");
    EXPECT_TRUE(stored.has("model/classifier_weight"));
    // A second run finds everything cached (the module's bytes are part of the source's inputs).
    auto again = run_jcas(concat({"run", "--source.torchscript", (dir / (name + ".pt")).string()}, tiny_options(w)));
    ASSERT_EQ(again.exit_code, 0) << again.output;
    EXPECT_TRUE(stages_run(again.output).empty()) << name << "\n" << again.output;
  }
}

// The adapted model leaves jcas as TorchScript: its parameters are the adapted ones, and it runs.
TEST(TorchScript, ExportWritesTheAdaptedModule) {
  const fs::path dir = fresh_dir("torchscript_export");
  const fs::path w = dir / "work";
  const auto opts = concat({"--source.torchscript", scripted(dir, "m", R"({"out": out, "aux": aux})").string()},
                           tiny_options(w));
  ASSERT_EQ(run_jcas(concat({"run"}, opts)).exit_code, 0);
  for (auto [model, result] : std::vector<std::pair<std::string, fs::path>>{{"1", w / "round-0" / "retrain.h5"},
                                                                          {"0", w / "source.h5"}}) {
    const fs::path out = dir / ("exported" + model + ".pt");
    auto r = run_jcas(concat({"export", "--model", model, "--out", out.string()}, opts));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    torch::jit::Module m = torch::jit::load(out.string());
    jcas::H5Reader stored(result);
    int compared = 0;
    for (const auto& p : m.named_parameters(true)) {
      EXPECT_TRUE(torch::equal(p.value, stored.read("model/" + p.name))) << p.name;
      ++compared;
    }
    EXPECT_EQ(compared, 6);
    auto y = m.forward({torch::randn({1, 3, 32, 40})}).toGenericDict();
    EXPECT_EQ(y.at("out").toTensor().size(1), 4);
  }
  // The native network: a checkpoint torch.load reads (tests/python checks it from PyTorch), holding
  // the stored weights exactly.
  const fs::path native = dir / "native.pt";
  auto r = run_jcas(concat({"export", "--out", native.string()}, tiny_options(completed_workdir())));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream in(native, std::ios::binary);
  const std::vector<char> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  auto checkpoint = torch::pickle_load(bytes).toGenericDict();
  EXPECT_EQ(checkpoint.at("format").toStringRef(), "jcas-native-1");
  jcas::H5Reader stored(completed_workdir() / "round-0" / "retrain.h5");
  int compared = 0;
  for (const auto& entry : checkpoint.at("state_dict").toGenericDict()) {
    EXPECT_TRUE(torch::equal(entry.value().toTensor(), stored.read("model/" + entry.key().toStringRef())))
        << entry.key().toStringRef();
    ++compared;
  }
  EXPECT_GT(compared, 50);
}

// The source-free case itself: a model, an unlabelled target, no source data at all.
TEST(TorchScript, AdaptsWithoutSourceDataOrTargetLabels) {
  const fs::path dir = fresh_dir("torchscript_sfda");
  ASSERT_EQ(write_small_datasets(dir / "ds"), "");
  fs::remove_all(dir / "ds" / "source");  // a source-free user has none
  fs::remove_all(dir / "ds" / "target" / "label");
  const auto target = std::vector<std::string>{"--data.target", (dir / "ds" / "target").string()};
  auto native = run_jcas(concat(concat({"run"}, target), tiny_options(dir / "native")));
  EXPECT_EQ(native.exit_code, 2) << native.output;
  EXPECT_NE(native.output.find("no source data to train the source model on"), std::string::npos) << native.output;
  auto r = run_jcas(concat(concat({"run", "--source.torchscript", scripted(dir, "m", R"({"out": out})").string()},
                                  target),
                           tiny_options(dir / "work")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(stages_run(r.output),
            (std::vector<std::string>{"source[0]", "criteria_source[0]", "pseudo_label[0]", "estimate_ntm[0]",
                                      "derive_affinity[0]", "retrain[0]", "criteria[0]"}))
      << r.output;
}

TEST(TorchScript, BrokenContractIsOneClearErrorAtLoad) {
  const fs::path dir = fresh_dir("torchscript_bad");
  const std::vector<std::tuple<std::string, std::string, int, std::string>> cases = {
      {"no_out", R"({"logits": out})", 4, "has no \"out\" entry"},
      {"classes", "out", 3, "have 3 classes, the target dataset has 4"},
      {"rank", "out.mean(1)", 4, "have rank 3"}};
  for (const auto& [name, result, classes, message] : cases) {
    const fs::path file = scripted(dir, name, result, classes);
    auto r = run_jcas(concat({"run", "--source.torchscript", file.string()}, tiny_options(dir / ("work_" + name))));
    EXPECT_EQ(r.exit_code, 2) << name << "\n" << r.output;
    EXPECT_NE(r.output.find(file.string()), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(message), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(dir / ("work_" + name) / "source.h5"));
  }
  std::ofstream(dir / "garbage.pt") << "not a model";
  auto r = run_jcas(concat({"run", "--source.torchscript", (dir / "garbage.pt").string()}, tiny_options(dir / "w")));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("is not a TorchScript model"), std::string::npos) << r.output;
  // The native network's BatchNorm modes are no TorchScript model's: refused, not ignored.
  auto sync = run_jcas(concat({"run", "--source.torchscript", (dir / "no_out.pt").string(), "--model.batchnorm", "sync"},
                              tiny_options(dir / "w_sync")));
  EXPECT_EQ(sync.exit_code, 2) << sync.output;
  EXPECT_NE(sync.output.find("--model.batchnorm sync is an option of the native network"), std::string::npos)
      << sync.output;
  EXPECT_FALSE(fs::exists(dir / "w_sync" / "source.h5"));
}
