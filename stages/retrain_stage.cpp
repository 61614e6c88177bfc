// Retrains the model of round r on the target train split with its pseudo labels and the
// configured adaptation method (JCAS by default), the NTMs initialised from this round's
// estimates; the result is the model of round r+1.
#include <fmt/format.h>

#include <limits>
#include <numeric>

#include "adapters/foundation/error.h"
#include "adapters/foundation/log.h"
#include "adapters/io/h5_store.h"
#include "pipeline/execution/run_options.h"
#include "pipeline/training/batchnorm_recalibration.h"
#include "stages/dataset_options.h"
#include "pipeline/training/inference.h"
#include "pipeline/training/label_free_scoring.h"
#include "stages/pipeline_stages.h"
#include "pipeline/training/retrain_recipe.h"
#include "stages/stage_inputs.h"
#include "stages/stage_metrics.h"

namespace jcas {
namespace {

// How the retrained model's epoch was chosen, as the result records it.
std::string selection_text(const RetrainOptions& o) {
  switch (o.select) {
    case Selection::val: return "best validation mJac";
    case Selection::label_free: return "best label-free " + o.select_criterion;
    case Selection::last: break;
  }
  return "last epoch";
}

torch::Tensor all_labels(const SegmentationDataset& ds) {
  std::vector<size_t> all(ds.size());
  std::iota(all.begin(), all.end(), size_t{0});
  return ds.batch(all).second;
}

struct RetrainStageOptions {
  DataOptions data;
  TrainSplit train;
  ValSplit val;
  RetrainOptions retrain;
  int64_t seed = 0;
  bool bfloat16 = false;

  RetrainStageOptions() { retrain.adabn = true; }  // [pseudo_label] adabn's default, as the pseudo-label stage's

  void bind(OptionBinder& b) {
    OptionBinder d = b.section("data"), r = b.section("retrain");
    data.bind(d);
    train.bind(d);
    val.bind(d);
    retrain.bind(r);
    OptionBinder p = b.section("pseudo_label");
    bind_adabn(p, &retrain.adabn);
    bind_seed(b, &seed);
    bind_precision(b, &bfloat16);
  }
  void check() const {
    check_seed(seed);
    train.check();
    val.check();
    retrain.check();
  }
};

class RetrainStage : public StageWith<RetrainStageOptions> {
 public:
  std::string name() const override { return "retrain"; }
  bool runs_on_every_rank() const override { return true; }
  std::string summary() const override { return "retrain with JCAS loss correction -> model of round r+1"; }

 protected:
  bool trains(const RetrainStageOptions&) const override { return true; }
  int computation_revision(const RetrainStageOptions& o) const override { return o.retrain.adaptation().revision(); }
  void check_context(const StageContext& ctx, const RetrainStageOptions& o) const override {
    check_precision(o.bfloat16, ctx.run().device);
    if (o.retrain.loss.affinity_impl == AffinityImpl::tiled && ctx.run().device != DeviceKind::cpu)
      throw UserError("--retrain.affinity_impl tiled runs on the CPU only; use dense with --device cuda");
    if (o.retrain.labels == TrainingLabels::truth && !split_has_labels(ctx, o.data, o.train.name))
      throw UserError(fmt::format("--retrain.labels truth needs labels for the target split '{}', and it has none",
                                  o.train.name));
    if (o.retrain.select == Selection::val && !split_has_labels(ctx, o.data, o.val.name))
      throw UserError(fmt::format("--retrain.select val needs labels for the target split '{}', and it has none; "
                                  "use --retrain.select last (label-free)",
                                  o.val.name));
  }
  std::vector<StageKey> input_keys(const StageContext& ctx, const RetrainStageOptions&, int round) const override {
    return with_data_input(ctx, {model_of_round(round), {"pseudo_label", round}, {"estimate_ntm", round},
                                 {"derive_affinity", round}});
  }

  std::vector<DatasetRead> splits_read(const StageContext& ctx, const RetrainStageOptions& o, int) const override {
    std::vector<DatasetRead> reads = {
        target_read(ctx, o.data, o.train.name, o.retrain.labels == TrainingLabels::truth)};
    if (o.retrain.select == Selection::val) reads.push_back(target_read(ctx, o.data, o.val.name, true));
    return reads;
  }

  Metrics compute(const StageContext& ctx, const RetrainStageOptions& o, int round, const std::string& fingerprint,
                  H5Writer& out) const override {
    const auto& execution = ctx.execution();
    // Self-training continues from the model that made the pseudo labels.
    StoredModel model = load_model(ctx, model_of_round(round));
    PseudoLabels pl = PseudoLabels::read(ctx.result_path({"pseudo_label", round}));
    NtmEstimate est = NtmEstimate::read(ctx.result_path({"estimate_ntm", round}));

    const bool truth = o.retrain.labels == TrainingLabels::truth;
    auto train = open_target(ctx, o.data, o.train.name, truth);
    if (static_cast<int64_t>(train.size()) != pl.labels.size(0))
      throw UserError(fmt::format("{}: {} pseudo labels for {} training images; re-run pseudo_label[{}]",
                                  ctx.result_path({"pseudo_label", round}).string(), pl.labels.size(0), train.size(),
                                  round));
    RetrainData data;
    data.images = &train;
    data.labels = truth ? all_labels(train) : pl.labels;
    data.confidence = pl.confidence;
    data.labeller = model.inference;
    data.round = round;
    data.class_dist = est.class_dist;
    if (o.retrain.ntm_init == NtmInit::estimate) {
      data.initial_class_ntm = est.class_ntm;
      data.initial_affinity_ntm = AffinityDerivation::read(ctx.result_path({"derive_affinity", round})).affinity_ntm;
    }
    const InferenceMode inference = o.retrain.inference();
    std::optional<SegmentationDataset> val;
    if (o.retrain.select == Selection::val) {
      val.emplace(open_target(ctx, o.data, o.val.name, true));
      data.validate = [&](SegmentationModel& m) {
        return evaluate_model(m, *val, inference, execution, "validate").mean_jaccard;
      };
    } else if (o.retrain.select == Selection::label_free) {
      data.validate = [&](SegmentationModel& m) {
        for (const auto& [name, value] : label_free_scores(m, train, inference, execution, "validate", true))
          if (name == o.retrain.select_criterion) return value;
        return std::numeric_limits<double>::quiet_NaN();
      };
    }
    TrainerOptions run;
    run.seed = static_cast<uint64_t>(o.seed);
    run.bfloat16 = o.bfloat16;
    run.label = fmt::format("retrain[{}]", round);
    run.checkpoint = ctx.checkpoint_path({"retrain", round});
    run.checkpoint_key = fingerprint;
    if (o.retrain.select == Selection::label_free) run.validation_name = "label-free " + o.retrain.select_criterion;
    Retrained r = retrain_model(*model.net, o.retrain, data, run, execution);

    StoredModel::write(out, *model.net, inference);
    RetrainOutcome outcome;
    if (r.loss) {
      r.loss->to(torch::kCPU);
      if (auto tc = r.loss->class_transition()) outcome.learned_class_ntm = tc->matrix().detach();
      if (auto ta = r.loss->affinity_transition()) outcome.learned_affinity_ntm = ta->matrix().detach();
    }
    std::vector<double> losses;
    for (const auto& e : r.result.epochs) losses.push_back(e.loss);
    outcome.epoch_loss = torch::tensor(losses, torch::kFloat64);
    outcome.kept = r.kept;
    outcome.selected_epoch = r.result.selected_epoch;
    outcome.resumed_from_epoch = r.result.resumed_from;
    outcome.selection = selection_text(o.retrain);
    outcome.write(out);
    if (execution.is_writer()) std::filesystem::remove(run.checkpoint);  // rank 0's file
    Metrics metrics = {{"selected_epoch", r.result.selected_epoch}, {"kept_labels", r.kept}};
    if (o.retrain.adaptation().label_filter() != LabelFilter::none)
      for (int64_t c = 0; c < r.kept_per_class.numel(); ++c)
        metrics[fmt::format("kept_labels_class{}", c)] = r.kept_per_class[c].item<double>();
    if (r.result.epochs.empty()) {
      log::info("retrain[{}]: {} takes no gradient step", round, o.retrain.method);
      return metrics;
    }
    log::info("retrain[{}]: kept epoch {} ({})", round, r.result.selected_epoch, selection_text(o.retrain));
    metrics[metric::final_loss] = r.result.epochs.back().loss;
    return metrics;
  }
};

}  // namespace

std::unique_ptr<Stage> make_retrain_stage() { return std::make_unique<RetrainStage>(); }

}  // namespace jcas
