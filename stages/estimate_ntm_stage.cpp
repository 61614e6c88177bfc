// T_C of round r's pseudo labels with the configured estimator; where target ground truth exists
// also the true confusion, every estimator's error against it, and the pseudo-label noise rates.
#include <fmt/format.h>

#include <sstream>

#include "adapters/io/h5_store.h"
#include "adapters/foundation/error.h"
#include "adapters/foundation/log.h"
#include "pipeline/method/ntm_estimators.h"
#include "pipeline/metrics/label_noise_stats.h"
#include "stages/pipeline_stages.h"
#include "stages/stage_inputs.h"

namespace jcas {
namespace {

const std::vector<std::string> kEstimators = {"confident", "anchor", "oracle", "identity"};

struct EstimateNtmOptions {
  std::string estimator;
  static EstimateNtmOptions from(const PipelineConfig& c) {
    EstimateNtmOptions o;
    o.estimator = c.text("estimate_ntm.estimator");
    if (std::find(kEstimators.begin(), kEstimators.end(), o.estimator) == kEstimators.end())
      throw UserError(fmt::format("--estimate_ntm.estimator: expected confident, anchor, oracle or identity, got '{}'",
                                  o.estimator));
    return o;
  }
};

// Labels sampled at the centre of each stride x stride block, matching the pooled probabilities.
torch::Tensor at_prob_resolution(const torch::Tensor& labels, int64_t stride, int64_t h, int64_t w) {
  using torch::indexing::Slice;
  return labels.index({Slice(), Slice(stride / 2, torch::indexing::None, stride), Slice(stride / 2, torch::indexing::None, stride)})
      .index({Slice(), Slice(0, h), Slice(0, w)});
}

class EstimateNtmStage : public Stage {
 public:
  std::string name() const override { return "estimate_ntm"; }
  std::string summary() const override { return "estimate the class noise transition matrix T_C"; }
  std::vector<std::string> option_keys(int) const override {
    return {"estimate_ntm.", "data.target", "data.train_split", "data.input_size", "data.label_dir"};
  }
  void validate(const StageContext& ctx) const override { EstimateNtmOptions::from(ctx.config()); }
  std::vector<StageKey> inputs(const StageContext& ctx, int round) const override {
    return with_data_input(ctx, {{"pseudo_label", round}});
  }

  std::map<std::string, double> run(const StageContext& ctx, int round, const std::string&,
                                    H5Writer& out) const override {
    auto o = EstimateNtmOptions::from(ctx.config());
    const int k = target_num_classes(ctx);
    H5Reader pl(ctx.result_path({"pseudo_label", round}));
    auto labels = pl.read("labels");
    auto probs = pl.read("probabilities");
    const int64_t stride = pl.attr_int("/", "prob_stride");
    const int64_t h = probs.size(2), w = probs.size(3);
    auto flat_probs = probs.permute({0, 2, 3, 1}).reshape({-1, k});
    auto flat_noisy = at_prob_resolution(labels, stride, h, w).reshape({-1});

    // Class distribution of the pseudo labels at full resolution (the loss's consistency term).
    auto counts = torch::bincount(labels.reshape({-1}).to(torch::kLong), {}, 256).slice(0, 0, k).to(torch::kFloat64);
    auto class_dist = (counts / counts.sum()).to(torch::kFloat32);
    out.write("class_dist", class_dist, "class; fraction of pseudo-labelled pixels");

    std::map<std::string, double> metrics;
    torch::Tensor flat_clean;
    const bool has_gt = target_has_labels(ctx);
    if (has_gt) {
      auto train = open_target(ctx, ctx.config().text("data.train_split"), true);
      std::vector<torch::Tensor> gt;
      LabelNoiseStats stats(k);
      for (size_t i = 0; i < train.size(); ++i) {
        gt.push_back(train.get(i).label);
        stats.add(gt.back(), labels[static_cast<int64_t>(i)]);
      }
      flat_clean = at_prob_resolution(torch::stack(gt), stride, h, w).reshape({-1});
      auto truth = stats.class_ntm();
      out.write("true_class_ntm", truth, "clean class, pseudo-label class; rows sum to 1");
      out.write("true_affinity_ntm", stats.affinity_ntm(), "clean pair (0 dissimilar, 1 similar), pseudo-label pair");
      out.write("true_class_dist", stats.class_dist_clean(), "class; fraction of ground-truth pixels");
      metrics["class_noise_rate"] = stats.class_noise_rate();
      metrics["affinity_noise_rate"] = stats.affinity_noise_rate();
      // Every estimator next to the truth, so users can see which one to trust on their data.
      for (const auto& e : kEstimators) {
        auto est = estimate_class_ntm(e, flat_probs, flat_noisy, flat_clean, k);
        out.write("estimates/" + e, est, "clean class, noisy class");
        double err = ntm_estimation_error(est, truth);
        metrics["error_" + e] = err;
      }
    } else if (o.estimator == "oracle") {
      throw UserError("--estimate_ntm.estimator oracle needs target ground truth, and this target has no labels");
    }
    auto t_c = estimate_class_ntm(o.estimator, flat_probs, flat_noisy, flat_clean, k);
    out.write("class_ntm", t_c, "clean class, noisy class; rows sum to 1");
    out.attr("/", "estimator", o.estimator);
    if (has_gt) metrics["estimation_error"] = metrics["error_" + o.estimator];
    std::ostringstream text;
    text << t_c;
    log::debug("estimate_ntm[{}]: T_C ({}) =\n{}", round, o.estimator, text.str());
    return metrics;
  }
};

}  // namespace

std::unique_ptr<Stage> make_estimate_ntm_stage() { return std::make_unique<EstimateNtmStage>(); }

}  // namespace jcas
