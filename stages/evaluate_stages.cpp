// Test-split evaluation of the source model (once) and of each round's retrained model.
#include <fmt/format.h>

#include "adapters/io/h5_store.h"
#include "adapters/foundation/log.h"
#include "stages/inference.h"
#include "stages/pipeline_stages.h"
#include "stages/stage_inputs.h"

namespace jcas {
namespace {

std::map<std::string, double> evaluate_into(const StageContext& ctx, const StageKey& producer, const std::string& label,
                                            H5Writer& out) {
  const int k = target_num_classes(ctx);
  auto device = torch_device(ctx);
  DeepLab model = load_model(ctx, producer, k);
  auto test = open_target(ctx, ctx.config().text("data.test_split"), true);
  auto r = evaluate_model(model, test, inference_mode(ctx.config(), producer), device, label);
  auto vec = [](const std::vector<double>& v) { return torch::tensor(v, torch::kFloat64); };
  out.write("dice", vec(r.dice), "foreground class 1..K-1; per image, averaged where present in ground truth");
  out.write("jaccard", vec(r.jaccard), "foreground class 1..K-1; per image, averaged where present in ground truth");
  out.write("global_dice", vec(r.global_dice), "foreground class 1..K-1; from the total confusion");
  out.write("global_jaccard", vec(r.global_jaccard), "foreground class 1..K-1; from the total confusion");
  out.write("confusion", r.confusion, "ground truth class, predicted class; pixels");
  out.attr("/", "model", producer.label());
  out.attr("/", "split", ctx.config().text("data.test_split"));
  log::info("{}: test mDice {:.4f} mJac {:.4f} (per class Jac {})", label, r.mean_dice, r.mean_jaccard,
            fmt::join(r.jaccard, " "));
  return {{"test_mdice", r.mean_dice}, {"test_mjac", r.mean_jaccard}};
}

std::vector<std::string> evaluate_keys() {
  return {"data.target", "data.test_split", "data.input_size", "data.image_dir", "data.label_dir"};
}

class EvaluateSourceStage : public Stage {
 public:
  std::string name() const override { return "evaluate_source"; }
  std::string summary() const override { return "evaluate the source model on the target test split"; }
  bool per_round() const override { return false; }
  std::vector<std::string> option_keys(int) const override { return evaluate_keys(); }
  std::vector<StageKey> inputs(const StageContext& ctx, int) const override {
    return with_data_input(ctx, {{"source", 0}});
  }
  std::map<std::string, double> run(const StageContext& ctx, int, const std::string&, H5Writer& out) const override {
    return evaluate_into(ctx, {"source", 0}, "evaluate source", out);
  }
};

class EvaluateStage : public Stage {
 public:
  std::string name() const override { return "evaluate"; }
  std::string summary() const override { return "evaluate the model of round r+1 on the target test split"; }
  std::vector<std::string> option_keys(int) const override {
    auto keys = evaluate_keys();
    for (const char* k : {"retrain.method", "retrain.affinity", "retrain.dar", "retrain.affinity_grid"})
      keys.push_back(k);  // they decide the DAR-refined inference
    return keys;
  }
  std::vector<StageKey> inputs(const StageContext& ctx, int round) const override {
    return with_data_input(ctx, {{"retrain", round}});
  }
  std::map<std::string, double> run(const StageContext& ctx, int round, const std::string&,
                                    H5Writer& out) const override {
    return evaluate_into(ctx, {"retrain", round}, fmt::format("evaluate[{}]", round), out);
  }
};

}  // namespace

std::unique_ptr<Stage> make_evaluate_source_stage() { return std::make_unique<EvaluateSourceStage>(); }
std::unique_ptr<Stage> make_evaluate_stage() { return std::make_unique<EvaluateStage>(); }

}  // namespace jcas
