// The source model: trained with cross-entropy on the labelled source domain, or imported.
#include <fmt/format.h>

#include "adapters/io/h5_store.h"
#include "adapters/foundation/error.h"
#include "adapters/foundation/log.h"
#include "pipeline/model/model_io.h"
#include "stages/inference.h"
#include "stages/pipeline_stages.h"
#include "stages/stage_inputs.h"
#include "stages/trainer.h"

namespace jcas {
namespace {

struct SourceStageOptions {
  std::string weights;
  TrainerOptions trainer;
  static SourceStageOptions from(const PipelineConfig& c) {
    SourceStageOptions o;
    o.weights = c.text("source.weights");
    o.trainer.epochs = c.integer("source.epochs");
    o.trainer.batch_size = c.integer("source.batch_size");
    o.trainer.lr = c.number("source.lr");
    o.trainer.seed = static_cast<uint64_t>(c.integer("seed"));
    if (o.trainer.epochs < 1) throw UserError("--source.epochs must be >= 1");
    if (o.trainer.batch_size < 1) throw UserError("--source.batch_size must be >= 1");
    return o;
  }
};

// Cross-entropy on both heads, the auxiliary weighted by the reference's lambda = 0.1; SGD with
// the reference's momentum and weight decay (TrainerOptions' defaults).
JcasLossOptions source_loss_options() {
  JcasLossOptions o;
  o.method = "ce";
  o.affinity = o.dar = o.calc = false;
  return o;
}

class SourceStage : public Stage {
 public:
  std::string name() const override { return "source"; }
  std::string summary() const override { return "train the source model (or import its weights)"; }
  bool per_round() const override { return false; }
  std::vector<std::string> option_keys(int) const override {
    return {"source.", "model.", "seed", "data.source", "data.input_size", "data.image_dir", "data.label_dir"};
  }
  void validate(const StageContext& ctx) const override {
    SourceStageOptions::from(ctx.config());
    model_options(ctx.config(), 2);  // the class count comes from the data, which may not exist yet
  }
  std::vector<StageKey> inputs(const StageContext& ctx, int) const override { return with_data_input(ctx, {}); }

  std::map<std::string, double> run(const StageContext& ctx, int, const std::string& fingerprint,
                                    H5Writer& out) const override {
    auto o = SourceStageOptions::from(ctx.config());
    const int k = target_num_classes(ctx);
    auto device = torch_device(ctx);
    DeepLab model = build_model(ctx.config(), k, o.trainer.seed);
    std::map<std::string, double> metrics;
    if (!o.weights.empty()) {
      H5Reader in(o.weights);
      read_module(in, "model", *model);
      log::info("source: imported weights from {}", o.weights);
    } else {
      auto train = open_source(ctx, "train");
      if (train.num_classes() != k)
        throw UserError(fmt::format("source dataset has {} classes, target {}", train.num_classes(), k));
      std::vector<torch::Tensor> labels;
      for (size_t i = 0; i < train.size(); ++i) labels.push_back(train.get(i).label);
      JcasLoss loss(k, source_loss_options());
      o.trainer.label = "source";
      o.trainer.checkpoint = ctx.checkpoint_path({"source", 0});
      o.trainer.checkpoint_key = fingerprint;
      auto result = train_model(model, loss, nullptr, train, torch::stack(labels), torch::full({k}, 1.0 / k),
                                o.trainer, device);
      metrics["final_loss"] = result.epochs.back().loss;
      std::filesystem::remove(o.trainer.checkpoint);
    }
    model->to(device);
    // The source model on held-out source images: how well it learned its own domain.
    if (std::filesystem::exists(ctx.source_root() / "test.txt")) {
      auto test = open_source(ctx, "test");
      auto report = evaluate_model(model, test, inference_mode(ctx.config(), {"source", 0}), device, "source test");
      metrics["source_test_mjac"] = report.mean_jaccard;
    }
    model->to(torch::kCPU);
    write_module(out, "model", *model);
    return metrics;
  }
};

}  // namespace

std::unique_ptr<Stage> make_source_stage() { return std::make_unique<SourceStage>(); }

}  // namespace jcas
