// The model of round r labels every target training image: labels, confidence and (reduced
// resolution) probabilities for the estimators, plus colourised PNGs to look at.
#include <fmt/format.h>

#include <cmath>
#include <filesystem>

#include "adapters/foundation/error.h"
#include "adapters/foundation/temporary_path.h"
#include "adapters/io/h5_store.h"
#include "adapters/io/label_files.h"
#include "pipeline/metrics/label_noise_stats.h"
#include "stages/dataset_options.h"
#include "pipeline/training/inference.h"
#include "pipeline/training/batchnorm_recalibration.h"
#include "stages/ntm_from_pseudo_labels.h"
#include "stages/pipeline_stages.h"
#include "stages/stage_inputs.h"
#include "stages/stage_metrics.h"

namespace jcas {
namespace {

namespace fs = std::filesystem;
namespace F = torch::nn::functional;

struct PseudoLabelOptions {
  DataOptions data;
  TrainSplit train;
  int prob_stride = 4;
  bool adabn = true;  // chosen on the target val split (README: choosing the defaults)

  void bind(OptionBinder& b) {
    OptionBinder d = b.section("data"), p = b.section("pseudo_label");
    data.bind(d);
    train.bind(d);
    p.bind("prob_stride", &prob_stride, "probabilities are stored at 1/stride resolution");
    bind_adabn(p, &adabn);
  }
  void check() const {
    train.check();
    if (prob_stride < 1 || prob_stride > 64) throw UserError("--pseudo_label.prob_stride must be in 1..64");
  }
};

class PseudoLabelStage : public StageWith<PseudoLabelOptions> {
 public:
  std::string name() const override { return "pseudo_label"; }
  bool runs_on_every_rank() const override { return true; }
  std::string summary() const override { return "pseudo-label the target train split with the model of round r"; }

 protected:
  // How the model is read out (DAR-refined or not) is part of the model's result, so the input's
  // fingerprint covers it.
  std::vector<StageKey> input_keys(const StageContext& ctx, const PseudoLabelOptions&, int round) const override {
    // Round r > 0 also reads round r-1's labels, to report how many pixels changed.
    if (round > 0) return with_data_input(ctx, {model_of_round(round), StageKey{"pseudo_label", round - 1}});
    return with_data_input(ctx, {model_of_round(round)});
  }

  std::vector<DatasetRead> splits_read(const StageContext& ctx, const PseudoLabelOptions& o, int) const override {
    return {target_read(ctx, o.data, o.train.name, split_has_labels(ctx, o.data, o.train.name))};
  }

  Metrics compute(const StageContext& ctx, const PseudoLabelOptions& o, int round, const std::string&,
                  H5Writer& out) const override {
    const bool has_gt = split_has_labels(ctx, o.data, o.train.name);
    const StageKey producer = model_of_round(round);
    StoredModel model = load_model(ctx, producer);
    const int k = model.net->num_classes();
    auto train = open_target(ctx, o.data, o.train.name, has_gt);
    if (o.adabn) recalibrate_batchnorm(*model.net, train, ctx.execution(), fmt::format("pseudo_label[{}] AdaBN", round));

    const auto n = static_cast<int64_t>(train.size());
    std::vector<torch::Tensor> labels(n), confidence(n), probs(n);
    double entropy_sum = 0;  // of each pixel's prediction, in units of log K (0 certain, 1 uniform)
    LabelNoiseStats stats(k);  // against ground truth, where the target has it
    predict_dataset(*model.net, train, model.inference, ctx.execution(), fmt::format("pseudo_label[{}]", round),
                    [&](size_t i, const Sample& sample, const torch::Tensor& p) {
                      auto [conf, arg] = p.max(0);
                      labels[i] = arg.to(torch::kUInt8);
                      if (has_gt) stats.add(sample.label, labels[i]);
                      // Confidence quantised to uint8 (1/255 steps): plenty for histograms and thresholds.
                      confidence[i] = (conf * 255).round().to(torch::kUInt8);
                      entropy_sum += -(p * p.clamp_min(1e-12).log()).sum(0).mean().item<double>() / std::log(k);
                      probs[i] = F::avg_pool2d(p.unsqueeze(0), F::AvgPool2dFuncOptions(o.prob_stride)).squeeze(0);
                    });
    PseudoLabels result;
    result.labels = torch::stack(labels);
    result.confidence = torch::stack(confidence);
    result.probabilities = torch::stack(probs);
    result.prob_stride = o.prob_stride;
    result.images = train.names();
    result.model = producer.label();
    result.write(out);
    if (ctx.execution().is_writer()) write_pngs(ctx, round, train, result.labels);

    // Label-free diagnostics: how sure the model is of its own labels.
    Metrics metrics{{metric::mean_confidence, result.confidence.to(torch::kFloat64).mean().item<double>() / 255},
                    {metric::mean_entropy, entropy_sum / static_cast<double>(std::max<int64_t>(n, 1))}};
    // The predicted class distribution (round 0's is the source model's) and the pixels whose label
    // changed since the previous round: what there is to watch where no labels exist.
    const auto shares = class_distribution(result.labels, k).to(torch::kFloat64);
    for (int c = 0; c < k; ++c) metrics[fmt::format("class_share_{}", c)] = shares[c].item<double>();
    if (round > 0) {
      const auto previous = PseudoLabels::read(ctx.round_dir(round - 1) / "pseudo_label.h5");
      if (previous.images == result.images && previous.labels.sizes() == result.labels.sizes())
        metrics[metric::changed_pixels] = previous.labels.ne(result.labels).to(torch::kFloat64).mean().item<double>();
    }
    if (has_gt) {
      metrics[metric::class_noise_rate] = stats.class_noise_rate();
      metrics[metric::affinity_noise_rate] = stats.affinity_noise_rate();
    }
    return metrics;
  }

 private:
  // The pseudo labels as files, each folder replaced as a whole: class ids at each image's own size
  // (what `jcas labels stats --noisy` and other tools read) in WORKDIR/round-r/pseudo_labels/NAME.png,
  // and colourised in pseudo_labels_color/NAME.png. Names keep their sub-folders.
  static void write_pngs(const StageContext& ctx, int round, const SegmentationDataset& images,
                         const torch::Tensor& labels) {
    TemporaryPath ids(ctx.round_dir(round) / "pseudo_labels"), colour(ctx.round_dir(round) / "pseudo_labels_color");
    for (size_t i = 0; i < images.size(); ++i) {
      const fs::path name = sample_file("", images.names()[i]);  // as `jcas labels stats --noisy` finds it
      write_label_files(labels[static_cast<int64_t>(i)], images.image_path(i), ids.path() / name, colour.path() / name);
    }
    ids.commit();
    colour.commit();
  }
};

}  // namespace

std::unique_ptr<Stage> make_pseudo_label_stage() { return std::make_unique<PseudoLabelStage>(); }

}  // namespace jcas
