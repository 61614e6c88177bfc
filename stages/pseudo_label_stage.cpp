// The model of round r labels every target training image: labels, confidence and (reduced
// resolution) probabilities for the estimators, plus colourised PNGs to look at.
#include <fmt/format.h>

#include <filesystem>
#include <opencv2/imgcodecs.hpp>

#include "adapters/io/h5_store.h"
#include "adapters/foundation/error.h"
#include "pipeline/metrics/label_noise_stats.h"
#include "stages/inference.h"
#include "stages/pipeline_stages.h"
#include "stages/stage_inputs.h"

namespace jcas {
namespace {

namespace fs = std::filesystem;
namespace F = torch::nn::functional;

struct PseudoLabelOptions {
  int prob_stride = 4;
  static PseudoLabelOptions from(const PipelineConfig& c) {
    PseudoLabelOptions o;
    o.prob_stride = c.integer("pseudo_label.prob_stride");
    if (o.prob_stride < 1 || o.prob_stride > 64) throw UserError("--pseudo_label.prob_stride must be in 1..64");
    return o;
  }
};

class PseudoLabelStage : public Stage {
 public:
  std::string name() const override { return "pseudo_label"; }
  std::string summary() const override { return "pseudo-label the target train split with the model of round r"; }
  std::vector<std::string> option_keys(int round) const override {
    std::vector<std::string> keys = {"pseudo_label.", "data.target", "data.train_split", "data.input_size",
                                     "data.image_dir", "data.label_dir"};
    if (round > 0)  // a retrained model's inference depends on how it was trained (DAR refinement)
      keys.insert(keys.end(), {"retrain.method", "retrain.affinity", "retrain.dar", "retrain.affinity_grid"});
    return keys;
  }
  void validate(const StageContext& ctx) const override { PseudoLabelOptions::from(ctx.config()); }
  std::vector<StageKey> inputs(const StageContext& ctx, int round) const override {
    return with_data_input(ctx, {model_of_round(round)});
  }

  std::map<std::string, double> run(const StageContext& ctx, int round, const std::string&,
                                    H5Writer& out) const override {
    auto o = PseudoLabelOptions::from(ctx.config());
    const int k = target_num_classes(ctx);
    const bool has_gt = target_has_labels(ctx);
    auto device = torch_device(ctx);
    StageKey producer = model_of_round(round);
    DeepLab model = load_model(ctx, producer, k);
    auto train = open_target(ctx, ctx.config().text("data.train_split"), has_gt);

    const auto n = static_cast<int64_t>(train.size());
    std::vector<torch::Tensor> labels(n), confidence(n), probs(n);
    LabelNoiseStats stats(k);  // against ground truth, where the target has it
    predict_dataset(model, train, inference_mode(ctx.config(), producer), device,
                    fmt::format("pseudo_label[{}]", round), [&](size_t i, const Sample& sample, const torch::Tensor& p) {
                      auto [conf, arg] = p.max(0);
                      labels[i] = arg.to(torch::kUInt8);
                      if (has_gt) stats.add(sample.label, labels[i]);
                      // Confidence quantised to uint8 (1/255 steps): plenty for histograms and thresholds.
                      confidence[i] = (conf * 255).round().to(torch::kUInt8);
                      probs[i] = F::avg_pool2d(p.unsqueeze(0), F::AvgPool2dFuncOptions(o.prob_stride)).squeeze(0);
                    });
    auto label_t = torch::stack(labels), conf_t = torch::stack(confidence), prob_t = torch::stack(probs);
    out.write("labels", label_t, "image,y,x; class id");
    out.write("confidence", conf_t, "image,y,x; max probability * 255");
    out.write("probabilities", prob_t, fmt::format("image,class,y,x; mean over {0}x{0} blocks", o.prob_stride));
    out.write("sizes", torch::tensor({label_t.size(1), label_t.size(2)}, torch::kInt64), "height,width");
    out.attr("/", "images", fmt::format("{}", fmt::join(train.names(), "\n")));
    out.attr("/", "prob_stride", int64_t{o.prob_stride});
    out.attr("/", "model", producer.label());
    write_pngs(ctx, round, train.names(), label_t);

    std::map<std::string, double> metrics{{"mean_confidence", conf_t.to(torch::kFloat64).mean().item<double>() / 255}};
    if (has_gt) {
      metrics["class_noise_rate"] = stats.class_noise_rate();
      metrics["affinity_noise_rate"] = stats.affinity_noise_rate();
    }
    return metrics;
  }

 private:
  // Colourised pseudo labels, WORKDIR/round-r/pseudo_labels/NAME.png (replaced as a whole).
  static void write_pngs(const StageContext& ctx, int round, const std::vector<std::string>& names,
                         const torch::Tensor& labels) {
    fs::path dir = ctx.round_dir(round) / "pseudo_labels", tmp = ctx.round_dir(round) / "pseudo_labels.tmp";
    fs::remove_all(tmp);
    fs::create_directories(tmp);
    for (size_t i = 0; i < names.size(); ++i) {
      fs::path file = tmp / (fs::path(names[i]).stem().string() + ".png");
      if (!cv::imwrite(file.string(), label_to_color(labels[static_cast<int64_t>(i)])))
        throw UserError(fmt::format("cannot write {}", file.string()));
    }
    fs::remove_all(dir);
    fs::rename(tmp, dir);
  }
};

}  // namespace

std::unique_ptr<Stage> make_pseudo_label_stage() { return std::make_unique<PseudoLabelStage>(); }

}  // namespace jcas
