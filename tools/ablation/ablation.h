#pragma once
// The paper's ablation (DESIGN §3.7) on the target train split: every adaptation method of the
// registry (pipeline/training/adaptation_registry.h) plus the clean-label upper bound is trained from
// the source model on the same training labels — synthetic noise on the clean target labels or the
// source model's pseudo labels (the SFDA setting) — with the retrain stage's recipe, selected on
// the validation split and scored on the test split, over several seeds. Every (noise, variant,
// seed) run is one cached job of the cache engine, and long runs checkpoint, so an interrupted
// ablation continues.
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "adapters/foundation/option_binder.h"
#include "pipeline/runner/pipeline_plan.h"
#include "stages/dataset_options.h"
#include "stages/ntm_from_pseudo_labels.h"
#include "pipeline/training/retrain_recipe.h"

namespace jcas {

// The rows of the ablation table, in order: "upper_bound" (CE on the clean labels), then every
// registered adaptation method.
std::vector<std::string> ablation_variant_names();
// The table's title of a row; UserError for an unknown one.
std::string ablation_variant_title(const std::string& variant);
// The adaptation method a row trains with (the upper bound trains CE).
const AdaptationMethod& ablation_variant_method(const std::string& variant);

// Training labels: the noise kinds of `jcas noise` on the clean labels, or the pseudo labels.
const std::vector<std::string>& ablation_noise_names();  // ellipse, symmetric, asymmetric, sfda

struct AblationOptions {
  std::string noise = "ellipse";
  double ellipse_rate = 0.3, symmetric_rate = 0.5, asymmetric_rate = 0.5;
  std::string unit = "region";  // region | pixel (symmetric / asymmetric)
  int64_t noise_seed = 1;       // the noisy labels are one draw, the same for every run
  int seeds = 3;                // training seeds 0..seeds-1 (sample order and flips)
  std::vector<std::string> variants = ablation_variant_names();
  std::string out;              // Markdown report (empty: WORKDIR/ablation/<noise>.md)
  bool quick = false;           // at most 2 epochs (1 warm-up), 1 seed: keeps the command tested

  // Plain keys (`--ellipse-rate`, `[ablation] ellipse_rate`); `quick` is a switch of the command.
  void bind(OptionBinder& b);
  void check() const;  // UserError naming the first bad option
};

// One (variant, seed) run: test scores in [0, 1] per foreground class (index c-1 = class c).
struct AblationRun {
  std::string variant;
  int seed = 0;
  std::vector<double> dice, jaccard;
  double mean_dice = 0, mean_jaccard = 0;
  double val_mjac = 0;
  int selected_epoch = 0, epochs = 0;
  double seconds = 0;   // training + evaluation time when it ran
  bool cached = false;  // read from the cache in this invocation
};

// Class and affinity noise rate of one set of training labels against the clean labels.
struct NoiseRateRow {
  std::string kind, description;
  double class_rate = 0, affinity_rate = 0;
  std::vector<double> class_dist_clean, class_dist_noisy;
};

// The pipeline options a run's result depends on besides its variant, seed and labels.
struct AblationTrainOptions {
  DataOptions data;
  TrainSplit train;
  ValSplit val;
  TestSplit test;
  RetrainOptions retrain;
  NtmEstimatorChoice estimator;
  void bind(OptionBinder& b);
  void check() const;
};

class Ablation {
 public:
  // `plan` provides the data, the source model and its pseudo labels (pseudo_label[0]).
  Ablation(const PipelinePlan& plan, AblationOptions options);

  // Runs what is missing of data, source and pseudo_label[0].
  void prepare();
  // Every (variant, seed) run of the configured noise: cached ones are read, the others run.
  std::vector<AblationRun> run_all();
  // Noise rates of every kind's training labels (cheap: no training).
  std::vector<NoiseRateRow> noise_rates();
  // The report: the table in the paper's layout, the runs, the noise rates, the settings.
  std::string markdown(const std::vector<AblationRun>& runs, const std::vector<NoiseRateRow>& rates,
                       double wall_seconds) const;
  std::filesystem::path report_path() const;
  std::filesystem::path run_path(const std::string& variant, int seed) const;

 private:
  struct Labels {
    torch::Tensor labels;      // N x H x W uint8 at the input size, train split order
    torch::Tensor class_dist;  // K float32 class proportions of `labels`
    NoiseRateRow rates;
  };
  std::string noise_of(const std::string& variant) const;  // "clean" for the upper bound
  Labels training_labels(const std::string& noise);
  // The options a run trains with: the pipeline's, with the variant's method. For methods that
  // learn no NTM, the NTM start is irrelevant and set to identity, so changing it does not make
  // those runs stale.
  AblationTrainOptions run_options(const std::string& variant) const;
  CachedJob job(const std::string& variant, int seed);
  Metrics train_one(const std::string& variant, int seed, const std::string& fingerprint, H5Writer& out);

  const PlannedStage& pseudo_labels() const;
  const PipelinePlan& plan_;
  AblationOptions o_;
  AblationTrainOptions train_;  // the pipeline's options with --quick applied
  std::map<std::string, Labels> labels_;
};

}  // namespace jcas
