// Label-free criteria in the pipeline and `jcas select` / `--select` on the tiny pipeline.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <regex>

#include "adapters/io/h5_store.h"
#include "tests/support/cli_runner.h"
#include "tests/tools/tiny_pipeline.h"

namespace fs = std::filesystem;
using namespace jcas::testing;

namespace {

const char* kCriteria[] = {"certainty", "confidence", "info_max", "flip_agreement", "snd", "expected_mjac"};

nlohmann::json select_json(const std::vector<std::string>& extra) {
  auto r = run_jcas(concat({"select", "--json"}, extra));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return nlohmann::json::parse(r.output.substr(r.output.find('{')));
}

}  // namespace

// Every model of the run has its criteria, in range; the DAR agreement exists for the model read out
// with DAR (the retrained JCAS model) and not for the source model.
TEST(LabelFreeSelection, EveryModelHasItsCriteria) {
  const fs::path d = completed_workdir();
  for (const fs::path f : {d / "round-0" / "criteria_source.h5", d / "round-0" / "criteria.h5"}) {
    for (const char* c : kCriteria) {
      const double v = metric_of(f, std::string("lf_") + c);
      EXPECT_TRUE(std::isfinite(v)) << f << " " << c;
      if (std::string(c) != "snd") EXPECT_TRUE(v >= 0 && v <= 1) << f << " " << c << " " << v;
    }
  }
  EXPECT_TRUE(std::isnan(metric_of(d / "round-0" / "criteria_source.h5", "lf_dar_agreement")));
  EXPECT_TRUE(std::isfinite(metric_of(d / "round-0" / "criteria.h5", "lf_dar_agreement")));
}

// `jcas select` lists the source model and the round's model with their criteria and chooses the
// highest value of the criterion named; `jcas export --select` exports that model.
TEST(LabelFreeSelection, SelectRanksTheModelsAndExportTakesItsChoice) {
  const fs::path d = completed_workdir();
  for (const std::string criterion : {"expected_mjac", "certainty", "snd"}) {
    const auto j = select_json({"--workdir", d.string(), "--criterion", criterion});
    ASSERT_EQ(j.at("candidates").size(), 2u) << j.dump();
    const auto& c = j.at("candidates");
    const int best = c[1].at("criteria").at(criterion).get<double>() > c[0].at("criteria").at(criterion).get<double>();
    EXPECT_EQ(j.at("chosen").at("round").get<int>(), best) << criterion << j.dump();
    EXPECT_TRUE(c[0].at("test_mjac").is_number()) << j.dump();  // shown beside it: the tiny target is labelled
  }
  const fs::path out = fresh_dir("select_export") / "model.pt";
  fs::create_directories(out.parent_path());
  const int chosen = select_json({"--workdir", d.string(), "--criterion", "confidence"}).at("chosen").at("round");
  auto r = run_jcas({"export", "--workdir", d.string(), "--select", "confidence", "--out", out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(chosen == 0 ? "the source model" : "the model after 1 round(s)"), std::string::npos)
      << r.output;
  EXPECT_TRUE(fs::exists(out));
}

// Several work directories compete in one ranking; the choice names its directory.
TEST(LabelFreeSelection, RunsOfSeveralWorkDirectoriesCompete) {
  const fs::path a = completed_workdir(), b = copy_of_completed("select_b");
  const auto j = select_json({a.string(), b.string()});
  EXPECT_EQ(j.at("candidates").size(), 4u) << j.dump();
  EXPECT_EQ(j.at("chosen").at("workdir").get<std::string>(), a.string()) << "ties go to the first listed";
}

TEST(LabelFreeSelection, BadRequestsGiveOneClearError) {
  const fs::path d = completed_workdir();
  auto r = run_jcas({"select", "--workdir", d.string(), "--criterion", "accuracy"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("unknown criterion 'accuracy' (one of: certainty"), std::string::npos) << r.output;
  r = run_jcas({"select", (d / "nothing_here").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("no such work directory"), std::string::npos) << r.output;
  r = run_jcas({"export", "--workdir", d.string(), "--select", "snd", "--model", "1", "--out", "x.pt"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--model and --select both choose the model"), std::string::npos) << r.output;
  // Criteria switched off: nothing to choose from, said so.
  const fs::path off = copy_of_completed("select_off");
  fs::remove(off / "round-0" / "criteria_source.h5");
  fs::remove(off / "round-0" / "criteria.h5");
  r = run_jcas({"select", "--workdir", off.string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("has its label-free criteria computed"), std::string::npos) << r.output;
}

// `--rounds auto`: round 1 (cached here) is kept only if it raised the criterion above the source
// model's; then round 2 runs, the last allowed by --max_rounds 2.
TEST(LabelFreeSelection, AutoRoundsAddRoundsWhileTheCriterionRises) {
  const fs::path d = copy_of_completed("auto_rounds");
  std::vector<std::string> options;
  for (const auto& o : tiny_options(d)) options.push_back(o);
  const auto at = std::find(options.begin(), options.end(), "--rounds");
  options.erase(at, at + 2);  // the tiny pipeline's --rounds 1
  const std::string criterion = "certainty";
  const double source = metric_of(d / "round-0" / "criteria_source.h5", "lf_" + criterion);
  const double round1 = metric_of(d / "round-0" / "criteria.h5", "lf_" + criterion);
  auto r = run_jcas(concat({"run", "--rounds", "auto", "--max_rounds", "2", "--until", criterion}, options));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  if (round1 > source) {
    EXPECT_EQ(stages_run(r.output), (std::vector<std::string>{"pseudo_label[1]", "estimate_ntm[1]", "derive_affinity[1]",
                                                              "retrain[1]", "evaluate[1]", "criteria[1]"}))
        << r.output;
    const double round2 = metric_of(d / "round-1" / "criteria.h5", "lf_" + criterion);
    EXPECT_NE(r.output.find(round2 > round1 ? "rose to the last round allowed" : "round 2 did not raise"),
              std::string::npos)
        << r.output;
  } else {
    EXPECT_TRUE(stages_run(r.output).empty()) << r.output;
    EXPECT_NE(r.output.find("round 1 did not raise certainty"), std::string::npos) << r.output;
  }
  EXPECT_NE(r.output.find("the best model by certainty"), std::string::npos) << r.output;
  auto bad = run_jcas(concat({"run", "--rounds", "auto", "--until", "accuracy"}, options));
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("unknown criterion 'accuracy'"), std::string::npos) << bad.output;
  EXPECT_TRUE(stages_run(bad.output).empty()) << bad.output;
  bad = run_jcas(concat({"run", "--until", "snd"}, tiny_options(d)));
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("--max_rounds and --until belong to --rounds auto"), std::string::npos) << bad.output;
}

// `--retrain.select CRITERION`: each epoch is scored by the criterion on the images trained on, and
// the epoch with the highest score is kept.
TEST(LabelFreeSelection, RetrainKeepsTheEpochTheCriterionPrefers) {
  const fs::path d = copy_of_completed("select_label_free");
  auto r = run_jcas(concat(concat({"run"}, tiny_options(d)),
                           {"--retrain.select", "certainty"}));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(stages_run(r.output), (std::vector<std::string>{"retrain[0]", "evaluate[0]", "criteria[0]"})) << r.output;
  jcas::H5Reader retrain(d / "round-0" / "retrain.h5");
  EXPECT_EQ(retrain.attr_string("/", "selection"), "best label-free certainty");
  // The kept epoch is the last one the log marks best.
  const std::regex line(R"(retrain\[0\] epoch (\d+)/\d+: .*label-free certainty [0-9.]+ \(best\))");
  int best = 0;
  for (std::sregex_iterator it(r.output.begin(), r.output.end(), line), end; it != end; ++it)
    best = std::stoi((*it)[1]);
  EXPECT_GT(best, 0) << r.output;
  EXPECT_EQ(metric_of(d / "round-0" / "retrain.h5", "selected_epoch"), best) << r.output;
  auto bad = run_jcas(concat(concat({"run"}, tiny_options(d)), {"--retrain.method", "ce", "--retrain.select",
                                                                "dar_agreement"}));
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("dar_agreement needs a DAR read-out"), std::string::npos) << bad.output;
}
