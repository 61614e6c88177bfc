#include <gtest/gtest.h>

#include <fstream>

#include "pipeline/cache/stage_record.h"
#include "adapters/foundation/options.h"
#include "pipeline/runner/pipeline_options.h"
#include "pipeline/runner/pipeline_plan.h"
#include "stages/pipeline_stages.h"

using namespace jcas;

TEST(PipelineConfig, QuickstartIniEqualsTheBuiltInDefaults) {
  po::options_description desc;
  declare_pipeline_options(desc);
  auto parsed = parse_options("run", "", desc, {"--config", std::string(JCAS_SOURCE_DIR) + "/configs/quickstart.ini"});
  auto from_file = PipelineConfig::from(parsed.values);
  auto defaults = PipelineConfig::with_defaults();
  EXPECT_EQ(from_file.values(), defaults.values());
  // And the file sets every option (a default changed without the file would fail above only if set there).
  std::ifstream in(std::string(JCAS_SOURCE_DIR) + "/configs/quickstart.ini");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const auto& [key, value] : defaults.values()) {
    auto dot = key.rfind('.');
    std::string leaf = dot == std::string::npos ? key : key.substr(dot + 1);
    EXPECT_NE(text.find("\n" + leaf + " = "), std::string::npos) << key << " missing from quickstart.ini";
  }
}

TEST(PipelineConfig, EndovisConfigParses) {
  po::options_description desc;
  declare_pipeline_options(desc);
  auto parsed = parse_options("run", "", desc, {"--config", std::string(JCAS_SOURCE_DIR) + "/configs/endovis18.ini"});
  auto c = PipelineConfig::from(parsed.values);
  EXPECT_EQ(c.text("data.label_dir"), "part/part_lbl");
  EXPECT_EQ(c.size("data.input_size"), std::make_pair(256, 320));
}

TEST(PipelinePlan, FingerprintsFollowOptionsAndInputs) {
  auto stages = pipeline_stages();
  auto fingerprints = [&](const std::map<std::string, std::string>& overrides) {
    StageContext ctx(PipelineConfig::with_defaults(overrides), "/tmp/jcas_plan_test");
    PipelinePlan plan(ctx, stages);
    std::map<std::string, std::string> fp;
    for (const auto& p : plan.stages()) fp[p.key.label()] = p.fingerprint;
    return fp;
  };
  auto base = fingerprints({});
  EXPECT_EQ(base.size(), 3u + 2 * 5u);  // data, source, evaluate_source + 2 rounds x 5 stages
  auto changed = fingerprints({{"retrain.lambda", "0.2"}});
  std::vector<std::string> differ;
  for (const auto& [k, v] : base)
    if (changed.at(k) != v) differ.push_back(k);
  // retrain[0] changes, and everything that consumes the model of round 1.
  EXPECT_EQ(differ, (std::vector<std::string>{"derive_affinity[1]", "estimate_ntm[1]", "evaluate[0]", "evaluate[1]",
                                              "pseudo_label[1]", "retrain[0]", "retrain[1]"}));
  // Thread count and device do not change results' identity.
  EXPECT_EQ(fingerprints({{"threads", "1"}}), base);
  // Numbers are canonical: 0.10 == 0.1.
  EXPECT_EQ(fingerprints({{"retrain.lambda", "0.10"}}), base);
  // The seed changes everything.
  auto seeded = fingerprints({{"seed", "7"}});
  for (const auto& [k, v] : base) EXPECT_NE(seeded.at(k), v) << k;
}
