// Label-free criteria (pipeline/metrics/label_free_criteria.h) of the source model (once) and of
// each round's retrained model, on the target split the rounds adapt on: what an SFDA user has,
// so `jcas select` can rank rounds and runs without a target label.
#include <fmt/format.h>

#include <cmath>

#include "adapters/foundation/error.h"
#include "adapters/foundation/log.h"
#include "adapters/io/h5_store.h"
#include "pipeline/training/label_free_scoring.h"
#include "stages/dataset_options.h"
#include "stages/model_scoring_stage.h"
#include "stages/pipeline_stages.h"
#include "stages/stage_inputs.h"
#include "stages/stage_metrics.h"

namespace jcas {
namespace {

struct CriteriaOptions {
  DataOptions data;
  TrainSplit train;
  bool enabled = true;
  std::string split;  // empty: the split adapted on
  bool mirrored = true;
  LabelFreeCriteriaOptions criteria;

  void bind(OptionBinder& b) {
    OptionBinder d = b.section("data"), c = b.section("criteria");
    data.bind(d);
    train.bind(d);
    c.bind("enabled", &enabled, "compute label-free criteria of every model on the target train split (`jcas select`)");
    c.bind("split", &split,
           "target split the criteria read, its images only (empty: the split adapted on, --data.train_split; "
           "a held-out split of unlabelled images avoids scoring a model on the images it trained on)");
    c.bind("flip", &mirrored, "flip_agreement: also predict each image mirrored (a second inference pass)");
    c.bind("snd_pixels", &criteria.snd_pixels, "pixels sampled over the split for the soft neighbourhood density");
  }
  const std::string& split_read() const { return split.empty() ? train.name : split; }
  void check() const {
    train.check();
    if (criteria.snd_pixels < 2 || criteria.snd_pixels > 16384)
      throw UserError("--criteria.snd_pixels must be in 2..16384");
  }
};

// The criteria of the source model (of_source) or of the model of round r+1 (per round).
class CriteriaStage : public ModelScoringStage<CriteriaOptions> {
 public:
  using ModelScoringStage::ModelScoringStage;

 protected:
  std::string why_skipped(const StageContext&, const CriteriaOptions& o) const override {
    return o.enabled ? "" : "--criteria.enabled is false";
  }
  std::vector<DatasetRead> splits_read(const StageContext& ctx, const CriteriaOptions& o, int) const override {
    return {target_read(ctx, o.data, o.split_read(), false)};
  }
  Metrics compute(const StageContext& ctx, const CriteriaOptions& o, int round, const std::string&,
                  H5Writer& out) const override {
    const StageKey model_key = producer(round);
    const std::string label = this->label(round);
    StoredModel model = load_model(ctx, model_key);
    auto split = open_target(ctx, o.data, o.split_read(), false);
    Metrics metrics;
    std::vector<std::string> shown;
    for (const auto& [name, value] :
         label_free_scores(*model.net, split, model.inference, ctx.execution(), label, o.mirrored, o.criteria)) {
      metrics[metric::criterion(name)] = value;
      if (!std::isnan(value)) shown.push_back(fmt::format("{} {:.4f}", name, value));
    }
    out.attr("/", "model", model_key.label());
    out.attr("/", "split", o.split_read());
    out.attr("/", "readout", model.inference.readout());
    log::info("{}: label-free on '{}': {}", label, o.split_read(), fmt::join(shown, ", "));
    return metrics;
  }
};

}  // namespace

std::unique_ptr<Stage> make_criteria_source_stage() {
  return std::make_unique<CriteriaStage>("criteria_source", true,
                                         "label-free criteria of the source model on the target train split");
}
std::unique_ptr<Stage> make_criteria_stage() {
  return std::make_unique<CriteriaStage>("criteria", false,
                                         "label-free criteria of the model of round r+1 on the target train split");
}

}  // namespace jcas
