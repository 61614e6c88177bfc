// T_C of round r's pseudo labels with the configured estimator; where target ground truth exists
// also the true confusion, every estimator's error against it, and the pseudo-label noise rates.
#include <fmt/format.h>

#include <sstream>

#include "adapters/foundation/error.h"
#include "adapters/foundation/log.h"
#include "adapters/io/h5_store.h"
#include "pipeline/method/ntm_estimators.h"
#include "pipeline/metrics/label_noise_stats.h"
#include "stages/dataset_options.h"
#include "stages/ntm_from_pseudo_labels.h"
#include "stages/pipeline_stages.h"
#include "stages/stage_metrics.h"

namespace jcas {
namespace {

struct EstimateNtmOptions {
  DataOptions data;
  TrainSplit train;
  NtmEstimatorChoice choice;

  void bind(OptionBinder& b) {
    OptionBinder d = b.section("data"), e = b.section("estimate_ntm");
    data.bind(d);
    train.bind(d);
    choice.bind(e);
  }
  void check() const {
    train.check();
    choice.check();
  }
};

class EstimateNtmStage : public StageWith<EstimateNtmOptions> {
 public:
  std::string name() const override { return "estimate_ntm"; }
  std::string summary() const override { return "estimate the class noise transition matrix T_C"; }

 protected:
  std::vector<StageKey> input_keys(const StageContext& ctx, const EstimateNtmOptions&, int round) const override {
    return with_data_input(ctx, {{"pseudo_label", round}});
  }

  // Ground truth, where the target has it, for the true T_C; otherwise only the class count.
  std::vector<DatasetRead> splits_read(const StageContext& ctx, const EstimateNtmOptions& o, int) const override {
    if (!split_has_labels(ctx, o.data, o.train.name)) return {};
    return {target_read(ctx, o.data, o.train.name, true)};
  }
  std::vector<std::filesystem::path> files_read(const StageContext& ctx, const EstimateNtmOptions& o,
                                                int) const override {
    return {o.data.target_root(ctx.workdir()) / "info.json"};
  }

  Metrics compute(const StageContext& ctx, const EstimateNtmOptions& o, int round, const std::string&,
                  H5Writer& out) const override {
    const int k = target_num_classes(ctx, o.data);
    PseudoLabels pl = PseudoLabels::read(ctx.result_path({"pseudo_label", round}));
    NtmEstimate result;
    result.estimator = o.choice.estimator;
    // Class distribution of the pseudo labels at full resolution (the loss's consistency term).
    result.class_dist = class_distribution(pl.labels, k);

    Metrics metrics;
    torch::Tensor clean;
    const bool has_gt = split_has_labels(ctx, o.data, o.train.name);
    if (has_gt) {
      auto train = open_target(ctx, o.data, o.train.name, true);
      std::vector<torch::Tensor> gt;
      LabelNoiseStats stats(k);
      for (size_t i = 0; i < train.size(); ++i) {
        gt.push_back(train.get(i).label);
        stats.add(gt.back(), pl.labels[static_cast<int64_t>(i)]);
      }
      clean = torch::stack(gt);
      result.true_class_ntm = stats.class_ntm();
      result.true_affinity_ntm = stats.affinity_ntm();
      result.true_class_dist = stats.class_dist_clean();
      metrics[metric::class_noise_rate] = stats.class_noise_rate();
      metrics[metric::affinity_noise_rate] = stats.affinity_noise_rate();
      // Every estimator next to the truth, so users can see which one to trust on their data.
      for (const auto& e : ntm_estimators()) {
        result.estimates[e.name] = estimate_class_ntm_from(pl, pl.labels, e.name, k, clean);
        metrics["error_" + e.name] = ntm_estimation_error(result.estimates[e.name], result.true_class_ntm);
      }
    } else if (ntm_estimator(o.choice.estimator).needs_clean_labels) {
      throw UserError(fmt::format("--estimate_ntm.estimator {} needs target ground truth, and this target has no labels",
                                  o.choice.estimator));
    }
    result.class_ntm = estimate_class_ntm_from(pl, pl.labels, o.choice.estimator, k, clean);
    result.write(out);
    if (has_gt) metrics[metric::estimation_error] = metrics["error_" + o.choice.estimator];
    std::ostringstream text;
    text << result.class_ntm;
    log::debug("estimate_ntm[{}]: T_C ({}) =\n{}", round, o.choice.estimator, text.str());
    return metrics;
  }
};

}  // namespace

std::unique_ptr<Stage> make_estimate_ntm_stage() { return std::make_unique<EstimateNtmStage>(); }

}  // namespace jcas
