// The runner in-process over two fake stages (no model, no data): what a run computes, what it
// reuses, what an option change or --force re-runs, and how a run that fails part-way resumes.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>
#include <stdexcept>

#include "adapters/foundation/error.h"
#include "adapters/io/h5_store.h"
#include "pipeline/runner/pipeline_plan.h"
#include "tests/support/temp_dir.h"

using namespace jcas;
namespace fs = std::filesystem;

namespace {

std::map<std::string, int> computed;  // stage label -> computes, over a test
std::string fail_at;                  // a stage label whose compute throws once

void count(const StageKey& key) {
  const std::string label = key.label();
  ++computed[label];
  if (label == fail_at) {
    fail_at.clear();
    throw std::runtime_error("killed in " + label);
  }
}

struct MakeOptions {
  double value = 1;
  void bind(OptionBinder& b) { b.section("make").bind("value", &value, "the value made"); }
  void check() const {
    if (value < 0) throw UserError("--make.value must be >= 0");
  }
};

// Once per pipeline: writes its value.
class MakeStage : public StageWith<MakeOptions> {
 public:
  std::string name() const override { return "make"; }
  std::string summary() const override { return "makes a value"; }
  bool per_round() const override { return false; }

 protected:
  std::vector<StageKey> input_keys(const StageContext&, const MakeOptions&, int) const override { return {}; }
  Metrics compute(const StageContext&, const MakeOptions& o, int round, const std::string&,
                  H5Writer& out) const override {
    count({name(), round});
    out.write("x", torch::full({1}, o.value));
    return {{"value", o.value}};
  }
};

int scale_revision = 0;  // what ScaleStage::computation_revision says

struct ScaleOptions {
  double factor = 2;
  void bind(OptionBinder& b) { b.section("scale").bind("factor", &factor, "the factor"); }
  void check() const {}
};

// Per round: the made value (round 0) or the previous round's times the factor.
class ScaleStage : public StageWith<ScaleOptions> {
 public:
  std::string name() const override { return "scale"; }
  std::string summary() const override { return "scales it"; }

 protected:
  std::vector<StageKey> input_keys(const StageContext&, const ScaleOptions&, int round) const override {
    return {round == 0 ? StageKey{"make", 0} : StageKey{"scale", round - 1}};
  }
  int computation_revision(const ScaleOptions&) const override { return scale_revision; }
  Metrics compute(const StageContext& ctx, const ScaleOptions& o, int round, const std::string&,
                  H5Writer& out) const override {
    count({name(), round});
    const StageKey in = round == 0 ? StageKey{"make", 0} : StageKey{"scale", round - 1};
    const torch::Tensor x = H5Reader(ctx.result_path(in)).read("x") * o.factor;
    out.write("x", x);
    return {{"value", x.item<double>()}};
  }
};

std::vector<std::unique_ptr<Stage>> fake_stages() {
  std::vector<std::unique_ptr<Stage>> s;
  s.push_back(std::make_unique<MakeStage>());
  s.push_back(std::make_unique<ScaleStage>());
  return s;
}

// One run of the fake pipeline over `rounds` rounds with `options`; returns the stages it ran.
class FakePipeline {
 public:
  explicit FakePipeline(const fs::path& workdir) : workdir_(workdir) {}
  int run(const std::map<std::string, std::string>& options = {}, const std::set<std::string>& force = {}) {
    auto [ctx, plan] = make(options);
    return PipelineRunner(*plan).run_all(force);
  }
  void run_one(const StageKey& key) {
    auto [ctx, plan] = make({});
    PipelineRunner(*plan).run_one(key);
  }
  double value(const StageKey& key) const {
    const fs::path path = key.name == "make" ? workdir_ / "make.h5" : workdir_ / fmt::format("round-{}", key.round) / "scale.h5";
    return H5Reader(path).read("x").item<double>();
  }

 private:
  std::pair<std::unique_ptr<StageContext>, std::unique_ptr<PipelinePlan>> make(
      const std::map<std::string, std::string>& options) {
    OptionValues values;
    for (const auto& [k, v] : options) values.set(k, v);
    RunOptions run;
    run.workdir = workdir_.string();
    run.rounds = 2;
    auto ctx = std::make_unique<StageContext>(values, run, ExecutionContext{}, stages_);
    auto plan = std::make_unique<PipelinePlan>(*ctx, stages_);
    return {std::move(ctx), std::move(plan)};
  }
  fs::path workdir_;
  std::vector<std::unique_ptr<Stage>> stages_ = fake_stages();
};

class PipelineRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    computed.clear();
    fail_at.clear();
    scale_revision = 0;
  }
  jcas::testing::TempDir dir;
};

}  // namespace

TEST_F(PipelineRunnerTest, RunsEveryStageOnceThenNothing) {
  FakePipeline p(dir.path());
  EXPECT_EQ(p.run(), 3);
  EXPECT_EQ(p.value({"scale", 1}), 4.0);
  EXPECT_EQ(p.run(), 0);
  EXPECT_EQ(computed, (std::map<std::string, int>{{"make[0]", 1}, {"scale[0]", 1}, {"scale[1]", 1}}));
}

TEST_F(PipelineRunnerTest, AnOptionReRunsItsStageAndWhatFollowsOnly) {
  FakePipeline p(dir.path());
  p.run();
  EXPECT_EQ(p.run({{"scale.factor", "3"}}), 2);  // make is unaffected
  EXPECT_EQ(computed["make[0]"], 1);
  EXPECT_EQ(p.value({"scale", 1}), 9.0);
  EXPECT_EQ(p.run({{"make.value", "2"}, {"scale.factor", "3"}}), 3);
  EXPECT_EQ(p.value({"scale", 1}), 18.0);
  // Back to the first options: everything is recomputed, as the files now hold the others.
  EXPECT_EQ(p.run(), 3);
  EXPECT_EQ(p.value({"scale", 1}), 4.0);
}

TEST_F(PipelineRunnerTest, ARevisedComputationReRunsUnderTheSameOptions) {
  FakePipeline p(dir.path());
  p.run();
  scale_revision = 1;  // a method redefined under its name
  EXPECT_EQ(p.run(), 2);
  EXPECT_EQ(p.run(), 0);
  EXPECT_EQ(computed["make[0]"], 1);
  scale_revision = 0;  // the files hold revision 1's results
  EXPECT_EQ(p.run(), 2);
}

TEST_F(PipelineRunnerTest, ForceReRunsTheNamedStageButNotItsDependants) {
  FakePipeline p(dir.path());
  p.run();
  EXPECT_EQ(p.run({}, {"make"}), 1);
  EXPECT_EQ(p.run({}, {"scale[1]"}), 1);
  EXPECT_EQ(p.run({}, {"scale"}), 2);
  EXPECT_EQ(computed["make[0]"], 2);
  EXPECT_THROW(p.run({}, {"retrain"}), UserError);
}

TEST_F(PipelineRunnerTest, AFailedRunResumesWithWhatIsLeft) {
  FakePipeline p(dir.path());
  fail_at = "scale[1]";
  EXPECT_THROW(p.run(), std::runtime_error);
  EXPECT_FALSE(fs::exists(dir.path() / "round-1" / "scale.h5"));
  EXPECT_EQ(p.run(), 1);
  EXPECT_EQ(computed["make[0]"], 1);
  EXPECT_EQ(computed["scale[1]"], 2);
  EXPECT_EQ(p.value({"scale", 1}), 4.0);
}

TEST_F(PipelineRunnerTest, OneStageNeedsItsInputsUpToDate) {
  FakePipeline p(dir.path());
  try {
    p.run_one({"scale", 0});
    FAIL() << "ran without its input";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("scale[0] needs make[0], which is missing"), std::string::npos) << e.what();
  }
  p.run_one({"make", 0});
  p.run_one({"scale", 0});
  EXPECT_EQ(p.value({"scale", 0}), 2.0);
  EXPECT_THROW(p.run_one({"scale", 5}), UserError);
}

TEST_F(PipelineRunnerTest, BadOptionsFailBeforeAnythingRuns) {
  FakePipeline p(dir.path());
  EXPECT_THROW(p.run({{"make.value", "-1"}}), UserError);
  EXPECT_THROW(p.run({{"scale.factor", "two"}}), UserError);
  EXPECT_TRUE(computed.empty());
}
