// Test-split evaluation of the source model (once) and of each round's retrained model.
#include <fmt/format.h>

#include "adapters/foundation/log.h"
#include "adapters/io/h5_store.h"
#include "stages/dataset_options.h"
#include "pipeline/training/inference.h"
#include "stages/pipeline_stages.h"
#include "stages/stage_inputs.h"

namespace jcas {
namespace {

// The evaluations score against the target's ground truth: without it they are left out.
std::string without_labels(const StageContext& ctx, const DataOptions& data, const std::string& split) {
  return split_has_labels(ctx, data, split)
             ? ""
             : fmt::format("the target split '{}' has no labels in {}", split,
                           (data.target_root(ctx.workdir()) / data.label_dir).string());
}

struct EvaluateOptions {
  DataOptions data;
  TestSplit test;
  void bind(OptionBinder& b) {
    OptionBinder d = b.section("data");
    data.bind(d);
    test.bind(d);
  }
  void check() const { test.check(); }
};

Metrics evaluate_into(const StageContext& ctx, const EvaluateOptions& o, const StageKey& producer,
                      const std::string& label, H5Writer& out) {
  StoredModel model = load_model(ctx, producer);
  auto test = open_target(ctx, o.data, o.test.name, true);
  auto r = evaluate_model(*model.net, test, model.inference, ctx.execution(), label);
  auto vec = [](const std::vector<double>& v) { return torch::tensor(v, torch::kFloat64); };
  out.write("dice", vec(r.dice), "foreground class 1..K-1; per image, averaged where present in ground truth");
  out.write("jaccard", vec(r.jaccard), "foreground class 1..K-1; per image, averaged where present in ground truth");
  out.write("global_dice", vec(r.global_dice), "foreground class 1..K-1; from the total confusion");
  out.write("global_jaccard", vec(r.global_jaccard), "foreground class 1..K-1; from the total confusion");
  out.write("confusion", r.confusion, "ground truth class, predicted class; pixels");
  out.attr("/", "model", producer.label());
  out.attr("/", "split", o.test.name);
  log::info("{}: test mDice {:.4f} mJac {:.4f} (per class Jac {})", label, r.mean_dice, r.mean_jaccard,
            fmt::join(r.jaccard, " "));
  return {{"test_mdice", r.mean_dice}, {"test_mjac", r.mean_jaccard}};
}

class EvaluateSourceStage : public StageWith<EvaluateOptions> {
 public:
  std::string name() const override { return "evaluate_source"; }
  bool runs_on_every_rank() const override { return true; }
  std::string summary() const override { return "evaluate the source model on the target test split"; }
  bool per_round() const override { return false; }

 protected:
  std::string why_skipped(const StageContext& ctx, const EvaluateOptions& o) const override {
    return without_labels(ctx, o.data, o.test.name);
  }
  std::vector<StageKey> input_keys(const StageContext& ctx, const EvaluateOptions&, int) const override {
    return with_data_input(ctx, {{"source", 0}});
  }
  std::vector<DatasetRead> splits_read(const StageContext& ctx, const EvaluateOptions& o, int) const override {
    return {target_read(ctx, o.data, o.test.name, true)};
  }
  Metrics compute(const StageContext& ctx, const EvaluateOptions& o, int, const std::string&,
                  H5Writer& out) const override {
    return evaluate_into(ctx, o, {"source", 0}, "evaluate source", out);
  }
};

class EvaluateStage : public StageWith<EvaluateOptions> {
 public:
  std::string name() const override { return "evaluate"; }
  bool runs_on_every_rank() const override { return true; }
  std::string summary() const override { return "evaluate the model of round r+1 on the target test split"; }

 protected:
  std::string why_skipped(const StageContext& ctx, const EvaluateOptions& o) const override {
    return without_labels(ctx, o.data, o.test.name);
  }
  std::vector<StageKey> input_keys(const StageContext& ctx, const EvaluateOptions&, int round) const override {
    return with_data_input(ctx, {{"retrain", round}});
  }
  std::vector<DatasetRead> splits_read(const StageContext& ctx, const EvaluateOptions& o, int) const override {
    return {target_read(ctx, o.data, o.test.name, true)};
  }
  Metrics compute(const StageContext& ctx, const EvaluateOptions& o, int round, const std::string&,
                  H5Writer& out) const override {
    return evaluate_into(ctx, o, {"retrain", round}, fmt::format("evaluate[{}]", round), out);
  }
};

}  // namespace

std::unique_ptr<Stage> make_evaluate_source_stage() { return std::make_unique<EvaluateSourceStage>(); }
std::unique_ptr<Stage> make_evaluate_stage() { return std::make_unique<EvaluateStage>(); }

}  // namespace jcas
