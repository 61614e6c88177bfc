#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include "adapters/foundation/error.h"
#include "adapters/foundation/options.h"
#include "pipeline/runner/option_schema.h"
#include "pipeline/runner/pipeline_plan.h"
#include "pipeline/training/adaptation_registry.h"
#include "stages/pipeline_stages.h"

using namespace jcas;

namespace {

// key -> value of an INI file (sections become "section." prefixes; comments and blanks skipped).
std::map<std::string, std::string> read_ini(const std::string& path) {
  std::ifstream in(path);
  std::map<std::string, std::string> out;
  std::string line, section;
  const std::regex kv(R"(^\s*([A-Za-z0-9_\-]+)\s*=\s*(.*?)\s*$)"), sec(R"(^\s*\[(.+)\]\s*$)");
  std::smatch m;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (std::regex_match(line, m, sec)) section = std::string(m[1]) + ".";
    else if (std::regex_match(line, m, kv)) out[section + std::string(m[1])] = m[2];
  }
  return out;
}

std::map<std::string, std::string> fingerprints(const std::vector<std::unique_ptr<Stage>>& stages,
                                                const OptionValues& values) {
  RunOptions run = values.get<RunOptions>();
  StageContext ctx(values, run, ExecutionContext{}, stages);
  PipelinePlan plan(ctx, stages);
  std::map<std::string, std::string> fp;
  for (const auto& p : plan.stages()) fp[p->key.label()] = p->fingerprint();
  return fp;
}

}  // namespace

TEST(OptionSchema, QuickstartIniIsExactlyTheBuiltInDefaults) {
  auto stages = pipeline_stages();
  OptionSchema schema(stages);
  auto file = read_ini(std::string(JCAS_SOURCE_DIR) + "/configs/quickstart.ini");
  std::map<std::string, std::string> defaults;
  for (const auto& b : schema.bindings()) defaults[b.key] = b.default_text;
  // Every option, with its default, and nothing else: a default changed in code without the file
  // (or an option added or removed) fails here. Regenerate with `jcas options`.
  EXPECT_EQ(file, defaults);
}

TEST(OptionSchema, EndovisConfigParses) {
  auto stages = pipeline_stages();
  OptionSchema schema(stages);
  po::options_description desc;
  declare_options(schema.bindings(), desc);
  auto parsed = parse_options("run", "", desc, {"--config", std::string(JCAS_SOURCE_DIR) + "/configs/endovis18.ini"});
  auto values = resolve_options(schema.bindings(), parsed.values);
  EXPECT_EQ(values.all().at("data.label_dir"), "part/part_lbl");
  EXPECT_EQ(values.all().at("data.input_size"), "256x320");
  EXPECT_EQ(values.all().at("retrain.method"), "jcas");
}

TEST(OptionSchema, BadValuesNameTheirKey) {
  auto stages = pipeline_stages();
  OptionSchema schema(stages);
  for (auto [key, text] : std::vector<std::pair<std::string, std::string>>{
           {"retrain.method", "magic"}, {"retrain.select", "best"},
           {"estimate_ntm.estimator", "psychic"}, {"retrain.epochs", "many"}, {"data.input_size", "big"}, {"device", "tpu"},
           {"seed", "-1"}}) {
    try {
      auto values = schema.defaults({{key, text}});
      fingerprints(stages, values);
      ADD_FAILURE() << key << "=" << text << " accepted";
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(schema.defaults({{"retrain.no_such_option", "1"}}), UserError);
}

TEST(PipelinePlan, FingerprintsFollowOptionsAndInputs) {
  auto stages = pipeline_stages();
  OptionSchema schema(stages);
  auto fp = [&](const std::map<std::string, std::string>& overrides) {
    return fingerprints(stages, schema.defaults(overrides));
  };
  auto base = fp({});
  EXPECT_EQ(base.size(), 4u + 2 * 6u);  // data, source, evaluate_source, criteria_source + 2 rounds x 6 stages
  auto differing = [&](const std::map<std::string, std::string>& overrides) {
    auto changed = fp(overrides);
    std::vector<std::string> differ;
    for (const auto& [k, v] : base)
      if (changed.at(k) != v) differ.push_back(k);
    return differ;
  };
  // retrain[0] changes, and everything that consumes the model of round 1.
  EXPECT_EQ(differing({{"retrain.lambda", "0.2"}}),
            (std::vector<std::string>{"criteria[0]", "criteria[1]", "derive_affinity[1]", "estimate_ntm[1]",
                                      "evaluate[0]", "evaluate[1]", "pseudo_label[1]", "retrain[0]", "retrain[1]"}));
  // The test split is read by the evaluations only.
  EXPECT_EQ(differing({{"data.test_split", "holdout"}}),
            (std::vector<std::string>{"evaluate[0]", "evaluate[1]", "evaluate_source[0]"}));
  // Thread count and device do not change results' identity.
  EXPECT_EQ(fp({{"threads", "1"}}), base);
  // Numbers are canonical: 0.10 == 0.1.
  EXPECT_EQ(fp({{"retrain.lambda", "0.10"}}), base);
  // The seed changes everything.
  auto seeded = fp({{"seed", "7"}});
  for (const auto& [k, v] : base) EXPECT_NE(seeded.at(k), v) << k;
}

// No option is a knob that does nothing: changing any option that is not about the run as a whole
// changes the fingerprint of at least one stage.
TEST(PipelinePlan, EveryStageOptionReachesAFingerprint) {
  auto stages = pipeline_stages();
  OptionSchema schema(stages);
  auto base = fingerprints(stages, schema.defaults());
  const std::map<std::string, std::string> alternatives = {
      {"retrain.method", "ce"},           {"retrain.affinity_impl", "tiled"}, {"retrain.affinity_ignore", "as_class"},
      {"retrain.ntm_init", "identity"},   {"retrain.select", "val"},         {"estimate_ntm.estimator", "confident"},
      {"model.preset", "resnet101"},      {"source.weights", "w.h5"},        {"data.image_dir", "images"},
      {"data.label_dir", "masks"},        {"data.train_split", "t2"},        {"data.val_split", "v2"},
      {"data.test_split", "t3"},          {"data.source", "/x/source"},      {"data.target", "/x/target"},
      {"source.torchscript", "m.pt"},     {"source.input_channels", "bgr"},  {"source.input_mean", "0,0,0"},
      {"source.input_std", "1,1,1"},      {"model.batchnorm", "frozen"},     {"data.image_ext", "jpg"},
      {"data.label_ext", "bmp"},          {"retrain.labels", "truth"},       {"retrain.freeze", "bn_affine,early"},
      {"retrain.ntm_lr_tied", "false"},   {"pseudo_label.adabn", "false"},    {"model.embedding", "separate"},
      {"source.method", "dar"},           {"retrain.cbst_portion", "0.3"},   {"retrain.dar_complement", "affinity"},
      {"evaluate.adapted", "true"},       {"evaluate.val", "true"},          {"criteria.enabled", "false"},     {"criteria.flip", "false"},
      {"criteria.split", "val"},         {"retrain.readout", "dar"},
      {"retrain.cbst_normalised", "false"}, {"model.input_norm", "imagenet"},
      {"source.backbone_weights", "mobilenet_v2_imagenet.pt"}, {"precision", "bfloat16"}};
  // Options that only go with others: the base they are changed from.
  const std::map<std::string, std::map<std::string, std::string>> contexts = {
      {"source.backbone_weights", {{"model.preset", "mobilenet_v2"}, {"model.input_norm", "imagenet"}}}};
  const std::set<std::string> run_keys = {"workdir", "rounds", "device", "threads", "dist_timeout"};
  int checked = 0;
  for (const auto& b : schema.bindings()) {
    if (run_keys.count(b.key)) continue;
    std::string alt;
    if (alternatives.count(b.key)) {
      alt = alternatives.at(b.key);
    } else if (std::regex_match(b.default_text, std::regex(R"(\d+x\d+)"))) {
      alt = "16x16";
    } else if (std::regex_match(b.default_text, std::regex(R"(-?\d+)"))) {
      alt = std::to_string(std::stoll(b.default_text) + 1);
    } else {
      alt = fmt::format("{}", std::stod(b.default_text) * 2 + 0.001);  // fails loudly for an unknown text key
    }
    std::map<std::string, std::string> context;
    if (contexts.count(b.key)) context = contexts.at(b.key);
    std::map<std::string, std::string> overrides = context;
    overrides[b.key] = alt;
    if (b.key == "data.target") overrides["data.source"] = "/x/source";  // a given target needs source data
    EXPECT_NE(fingerprints(stages, schema.defaults(overrides)),
              context.empty() ? base : fingerprints(stages, schema.defaults(context)))
        << b.key << " = " << alt;
    ++checked;
  }
  EXPECT_GT(checked, 30);
}

// `jcas benchmark --tune` gives every method the same budget: each knob a pipeline option, at
// kTuningBudget values that the option accepts, the method's default among them (so the run the
// benchmark's main tables show is one of the configurations tuned).
TEST(AdaptationMethods, EveryTuningKnobIsAnOptionAtTheBudgetWithItsDefault) {
  auto stages = pipeline_stages();
  OptionSchema schema(stages);
  int with_knob = 0;
  for (const auto& m : adaptation_methods()) {
    const TuningKnob knob = m->tuning_knob();
    if (knob.key.empty()) continue;
    ++with_knob;
    ASSERT_EQ(knob.values.size(), static_cast<size_t>(kTuningBudget)) << m->name();
    const auto b = std::find_if(schema.bindings().begin(), schema.bindings().end(),
                                [&](const OptionBinding& x) { return x.key == knob.key; });
    ASSERT_NE(b, schema.bindings().end()) << m->name() << ": " << knob.key;
    const std::string own = schema.defaults({{knob.key, b->default_text}}).all().at(knob.key);
    bool has_default = false;
    std::set<std::string> distinct;
    for (const auto& v : knob.values) {
      const OptionValues values = schema.defaults({{knob.key, v}});  // a text the option refuses throws
      distinct.insert(values.all().at(knob.key));
      has_default |= values.all().at(knob.key) == own;
    }
    EXPECT_TRUE(has_default) << m->name() << ": " << knob.key << " default " << b->default_text;
    EXPECT_EQ(distinct.size(), knob.values.size()) << m->name();
  }
  // Every method has one but AdaBN (no hyperparameter) and SparseReg (its temperature is not an option).
  EXPECT_EQ(with_knob, static_cast<int>(adaptation_methods().size()) - 2);
}
