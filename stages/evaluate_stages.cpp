// Evaluation of the source model (once) and of each round's retrained model: on the target's
// held-out test split, and optionally (transductively) on the split the rounds adapt on.
#include <fmt/format.h>

#include "adapters/foundation/log.h"
#include "adapters/io/h5_store.h"
#include "stages/dataset_options.h"
#include "pipeline/training/inference.h"
#include "stages/model_scoring_stage.h"
#include "stages/pipeline_stages.h"
#include "stages/stage_inputs.h"
#include "stages/stage_metrics.h"

namespace jcas {
namespace {

// The evaluations score against the target's ground truth: without it they are left out.
std::string without_labels(const StageContext& ctx, const DataOptions& data, const std::string& split) {
  return split_has_labels(ctx, data, split)
             ? ""
             : fmt::format("the target split '{}' has no labels in {}", split,
                           (data.target_root(ctx.workdir()) / data.label_dir).string());
}

// Held-out scoring: the target's test split, never adapted on.
struct EvaluateOptions {
  static constexpr const char* kWhat = "test";
  static constexpr const char* kDice = metric::test_mdice;
  static constexpr const char* kJaccard = metric::test_mjac;
  DataOptions data;
  TestSplit test;
  void bind(OptionBinder& b) {
    OptionBinder d = b.section("data");
    data.bind(d);
    test.bind(d);
  }
  void check() const { test.check(); }
  const std::string& split() const { return test.name; }
  std::string why_off() const { return ""; }
};

// Transductive scoring, as test-time adaptation papers score: the split the rounds adapt on
// (pseudo-labelled, never its labels), when asked for and labelled.
struct EvaluateAdaptedOptions {
  static constexpr const char* kWhat = "adapted-split";
  static constexpr const char* kDice = metric::adapted_mdice;
  static constexpr const char* kJaccard = metric::adapted_mjac;
  DataOptions data;
  TrainSplit train;
  bool adapted = false;
  void bind(OptionBinder& b) {
    OptionBinder d = b.section("data");
    data.bind(d);
    train.bind(d);
    b.section("evaluate").bind("adapted", &adapted,
                               "also score every model on the target split it adapted on (transductive; needs that "
                               "split's labels, which adaptation never reads)");
  }
  void check() const {}
  const std::string& split() const { return train.name; }
  std::string why_off() const { return adapted ? "" : "--evaluate.adapted is false"; }
};

// Scoring on the target's labelled val split, for choices made with labels (`jcas benchmark --tune`
// picks each method's configuration by it): an oracle an SFDA user does not have, kept apart from test.
struct EvaluateValOptions {
  static constexpr const char* kWhat = "val";
  static constexpr const char* kDice = metric::val_mdice;
  static constexpr const char* kJaccard = metric::val_mjac;
  DataOptions data;
  ValSplit val;
  bool on = false;
  void bind(OptionBinder& b) {
    OptionBinder d = b.section("data");
    data.bind(d);
    val.bind(d);
    b.section("evaluate").added_later().bind(
        "val", &on, "also score every model on the labelled target val split (--data.val_split; for choices made with labels)");
  }
  void check() const { val.check(); }
  const std::string& split() const { return val.name; }
  std::string why_off() const { return on ? "" : "--evaluate.val is false"; }
};

// Scores the source model (once) or the model of round r+1 (per round) on the options' split,
// recorded as the options' kDice and kJaccard.
template <class Options>
class EvaluateStage : public ModelScoringStage<Options> {
 public:
  using ModelScoringStage<Options>::ModelScoringStage;

 protected:
  std::string why_skipped(const StageContext& ctx, const Options& o) const override {
    const std::string off = o.why_off();
    return off.empty() ? without_labels(ctx, o.data, o.split()) : off;
  }
  std::vector<DatasetRead> splits_read(const StageContext& ctx, const Options& o, int) const override {
    return {target_read(ctx, o.data, o.split(), true)};
  }
  Metrics compute(const StageContext& ctx, const Options& o, int round, const std::string&,
                  H5Writer& out) const override {
    const StageKey model_key = this->producer(round);
    const std::string label = this->label(round);
    StoredModel model = load_model(ctx, model_key);
    auto split = open_target(ctx, o.data, o.split(), true);
    auto r = evaluate_model(*model.net, split, model.inference, ctx.execution(), label);
    auto vec = [](const std::vector<double>& v) { return torch::tensor(v, torch::kFloat64); };
    out.write("dice", vec(r.dice), "foreground class 1..K-1; per image, averaged where present in ground truth");
    out.write("jaccard", vec(r.jaccard), "foreground class 1..K-1; per image, averaged where present in ground truth");
    out.write("global_dice", vec(r.global_dice), "foreground class 1..K-1; from the total confusion");
    out.write("global_jaccard", vec(r.global_jaccard), "foreground class 1..K-1; from the total confusion");
    out.write("confusion", r.confusion, "ground truth class, predicted class; pixels");
    out.attr("/", "model", model_key.label());
    out.attr("/", "split", o.split());
    log::info("{}: {} mDice {:.4f} mJac {:.4f} on '{}' (per class Jac {})", label, Options::kWhat, r.mean_dice,
              r.mean_jaccard, o.split(), fmt::join(r.jaccard, " "));
    return {{Options::kDice, r.mean_dice}, {Options::kJaccard, r.mean_jaccard}};
  }
};

}  // namespace

std::unique_ptr<Stage> make_evaluate_source_stage() {
  return std::make_unique<EvaluateStage<EvaluateOptions>>("evaluate_source", true,
                                                          "evaluate the source model on the target test split");
}
std::unique_ptr<Stage> make_evaluate_stage() {
  return std::make_unique<EvaluateStage<EvaluateOptions>>(
      "evaluate", false, "evaluate the model of round r+1 on the target test split");
}
std::unique_ptr<Stage> make_evaluate_adapted_source_stage() {
  return std::make_unique<EvaluateStage<EvaluateAdaptedOptions>>(
      "evaluate_adapted_source", true, "score the source model on the target split adapted on (--evaluate.adapted)");
}
std::unique_ptr<Stage> make_evaluate_adapted_stage() {
  return std::make_unique<EvaluateStage<EvaluateAdaptedOptions>>(
      "evaluate_adapted", false, "score the model of round r+1 on the target split it adapted on (--evaluate.adapted)");
}

std::unique_ptr<Stage> make_evaluate_val_source_stage() {
  return std::make_unique<EvaluateStage<EvaluateValOptions>>(
      "evaluate_val_source", true, "score the source model on the target val split (--evaluate.val)");
}
std::unique_ptr<Stage> make_evaluate_val_stage() {
  return std::make_unique<EvaluateStage<EvaluateValOptions>>(
      "evaluate_val", false, "score the model of round r+1 on the target val split (--evaluate.val)");
}

}  // namespace jcas
