// Retrains the model of round r on the target train split with its pseudo labels and the JCAS
// loss, the NTMs initialised from this round's estimates; the result is the model of round r+1.
#include <fmt/format.h>

#include "adapters/io/h5_store.h"
#include "adapters/foundation/error.h"
#include "adapters/foundation/log.h"
#include "pipeline/model/model_io.h"
#include "stages/inference.h"
#include "stages/loss_options.h"
#include "stages/pipeline_stages.h"
#include "stages/stage_inputs.h"
#include "stages/trainer.h"

namespace jcas {
namespace {

struct RetrainOptions {
  TrainerOptions trainer;
  JcasLossOptions loss;
  std::string ntm_init, select;
  static RetrainOptions from(const PipelineConfig& c) {
    RetrainOptions o;
    o.trainer.epochs = c.integer("retrain.epochs");
    o.trainer.warmup_epochs = c.integer("retrain.warmup_epochs");
    o.trainer.batch_size = c.integer("retrain.batch_size");
    o.trainer.lr = c.number("retrain.lr");
    o.trainer.ntm_lr = c.number("retrain.ntm_lr");
    o.trainer.momentum = c.number("retrain.momentum");
    o.trainer.weight_decay = c.number("retrain.weight_decay");
    o.trainer.seed = static_cast<uint64_t>(c.integer("seed"));
    o.loss = loss_options(c);
    o.ntm_init = c.text("retrain.ntm_init");
    o.select = c.text("retrain.select");
    if (o.trainer.epochs < 1) throw UserError("--retrain.epochs must be >= 1");
    if (o.trainer.warmup_epochs < 0 || o.trainer.warmup_epochs > o.trainer.epochs)
      throw UserError("--retrain.warmup_epochs must be in 0..retrain.epochs");
    if (o.trainer.batch_size < 1) throw UserError("--retrain.batch_size must be >= 1");
    if (o.ntm_init != "estimate" && o.ntm_init != "identity")
      throw UserError(fmt::format("--retrain.ntm_init: expected estimate or identity, got '{}'", o.ntm_init));
    if (o.select != "last" && o.select != "val")
      throw UserError(fmt::format("--retrain.select: expected last or val, got '{}'", o.select));
    return o;
  }
};

class RetrainStage : public Stage {
 public:
  std::string name() const override { return "retrain"; }
  std::string summary() const override { return "retrain with JCAS loss correction -> model of round r+1"; }
  std::vector<std::string> option_keys(int) const override {
    return {"retrain.", "model.", "seed", "data.target", "data.train_split", "data.val_split", "data.input_size",
            "data.image_dir", "data.label_dir"};
  }
  void validate(const StageContext& ctx) const override {
    auto o = RetrainOptions::from(ctx.config());
    if (o.loss.affinity_impl == "tiled" && ctx.device() != "cpu")
      throw UserError("--retrain.affinity_impl tiled runs on the CPU only; use dense with --device cuda");
  }
  std::vector<StageKey> inputs(const StageContext& ctx, int round) const override {
    return with_data_input(ctx, {model_of_round(round), {"pseudo_label", round}, {"estimate_ntm", round},
                                 {"derive_affinity", round}});
  }

  std::map<std::string, double> run(const StageContext& ctx, int round, const std::string& fingerprint,
                                    H5Writer& out) const override {
    auto o = RetrainOptions::from(ctx.config());
    const int k = target_num_classes(ctx);
    auto device = torch_device(ctx);
    // Self-training continues from the model that made the pseudo labels.
    DeepLab model = load_model(ctx, model_of_round(round), k);
    H5Reader pl(ctx.result_path({"pseudo_label", round}));
    H5Reader est(ctx.result_path({"estimate_ntm", round}));
    H5Reader aff(ctx.result_path({"derive_affinity", round}));
    auto labels = pl.read("labels");
    auto class_dist = est.read("class_dist");

    JcasLoss loss(k, o.loss);
    if (o.ntm_init == "estimate") {
      // A sliver of identity keeps every diagonal positive, which the logit parameterisation needs.
      auto nudge = [](const torch::Tensor& t) { return 0.999 * t + 0.001 * torch::eye(t.size(0)); };
      loss->class_ntm->init_from(nudge(est.read("class_ntm")));
      loss->affinity_ntm->init_from(nudge(aff.read("affinity_ntm")));
    }
    // The reference's warm-up: affinity + DAR without correction.
    JcasLossOptions warm_opts = o.loss;
    warm_opts.calc = false;
    JcasLoss warmup(k, warm_opts);

    auto train = open_target(ctx, ctx.config().text("data.train_split"), false);
    if (static_cast<int64_t>(train.size()) != labels.size(0))
      throw UserError(fmt::format("{}: {} pseudo labels for {} training images; re-run pseudo_label[{}]",
                                  pl.path().string(), labels.size(0), train.size(), round));
    std::function<double(DeepLab&)> score_on_val;
    std::optional<SegmentationDataset> val;
    if (o.select == "val") {
      val.emplace(open_target(ctx, ctx.config().text("data.val_split"), true));
      auto mode = inference_mode(ctx.config(), {"retrain", round});
      score_on_val = [&, mode](DeepLab& m) { return evaluate_model(m, *val, mode, device, "validate").mean_jaccard; };
    }
    o.trainer.label = fmt::format("retrain[{}]", round);
    o.trainer.checkpoint = ctx.checkpoint_path({"retrain", round});
    o.trainer.checkpoint_key = fingerprint;
    auto result = train_model(model, loss, &warmup, train, labels, class_dist, o.trainer, device, score_on_val);

    model->to(torch::kCPU);
    loss->to(torch::kCPU);
    write_module(out, "model", *model);
    out.write("learned_class_ntm", loss->class_ntm->matrix().detach(), "clean class, noisy class (end of retraining)");
    out.write("learned_affinity_ntm", loss->affinity_ntm->matrix().detach(), "clean pair, noisy pair (end of retraining)");
    std::vector<double> losses;
    for (const auto& e : result.epochs) losses.push_back(e.loss);
    out.write("epoch_loss", torch::tensor(losses, torch::kFloat64), "epoch; mean total loss");
    out.attr("/", "selected_epoch", int64_t{result.selected_epoch});
    out.attr("/", "selection", o.select == "val" ? std::string("best validation mJac") : std::string("last epoch"));
    out.attr("/", "resumed_from_epoch", int64_t{result.resumed_from});
    std::filesystem::remove(o.trainer.checkpoint);
    log::info("retrain[{}]: kept epoch {} ({})", round, result.selected_epoch,
              o.select == "val" ? "best validation mJac" : "last epoch, label-free");
    return {{"final_loss", result.epochs.back().loss}, {"selected_epoch", result.selected_epoch}};
  }
};

}  // namespace

std::unique_ptr<Stage> make_retrain_stage() { return std::make_unique<RetrainStage>(); }

}  // namespace jcas
