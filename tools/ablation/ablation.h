#pragma once
// The paper's ablation (DESIGN §3.7) on the target train split: every adaptation method of the
// registry (pipeline/training/adaptation_registry.h) plus the clean-label upper bound is trained from
// the source model on the same training labels — synthetic noise on the clean target labels or the
// source model's pseudo labels (the SFDA setting) — with the retrain stage's recipe, selected on
// the validation split and scored on the test split, over several seeds. Every (noise, variant,
// seed) run is one cached job of the cache engine, and long runs checkpoint, so an interrupted
// ablation continues.
#include <torch/torch.h>

#include <functional>
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
  int64_t noise_seed = 1;       // seed of the noise draw (of seed 0's with seed_varies = all)
  int seeds = 3;                // seeds 0..seeds-1
  // What a seed changes. all: everything random: seed s >= 1 is its own pipeline (the pipeline
  // seed + s: its own generated data, source model and pseudo labels, in WORKDIR/ablation/seed<s>)
  // and its own noise draw (noise_seed + s); seed 0 is the work directory's own pipeline.
  // order: the sample order and flips only (one source model, one noise draw for every seed).
  std::string seed_varies = "all";
  std::vector<std::string> variants = ablation_variant_names();
  std::string out;              // Markdown report (empty: WORKDIR/ablation/<noise>.md)
  bool quick = false;           // at most 2 epochs (1 warm-up), 1 seed: keeps the command tested

  // Plain keys (`--ellipse-rate`, `[ablation] ellipse_rate`); `quick` is a switch of the command.
  void bind(OptionBinder& b);
  void check() const;  // UserError naming the first bad option
  double rate_of(const std::string& kind) const;  // the rate of a synthetic noise kind
};

// One (variant, seed) run: test scores in [0, 1] per foreground class (index c-1 = class c).
struct AblationRun {
  std::string variant;
  int seed = 0;
  std::vector<double> dice, jaccard;
  double mean_dice = 0, mean_jaccard = 0;
  double val_mjac = 0;
  std::string labels;  // what the run trained on, e.g. "ellipse noise, rate 0.3, noise seed 2"
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

// The pipeline of `plan`'s options with some changed (key -> value text), kept alive by the caller.
using DerivePipeline = std::function<const PipelinePlan&(const std::map<std::string, std::string>& changes)>;

class Ablation {
 public:
  // `plan` provides the data, the source model and its pseudo labels (pseudo_label[0]) of seed 0;
  // `derive` those of the other seeds when they vary everything (AblationOptions::seed_varies).
  Ablation(const PipelinePlan& plan, AblationOptions options, const DerivePipeline& derive);

  // Runs what is missing of seed 0's data, source and pseudo_label[0] (the other seeds' before
  // their runs) and checks that the target has labels.
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
  // The noise draw's seed of a training seed's labels.
  int64_t noise_seed_of(int seed) const;
  std::string labels_description(const std::string& noise, int seed) const;
  Labels training_labels(const std::string& noise, int seed);
  // Runs what is missing of the seed's data, source model and pseudo labels.
  void prepare_seed(int seed);
  // The options a run trains with: the pipeline's, with the variant's method. For methods that
  // learn no NTM, the NTM start is irrelevant and set to identity, so changing it does not make
  // those runs stale.
  AblationTrainOptions run_options(const std::string& variant) const;
  CachedJob job(const std::string& variant, int seed);
  // The report's paired per-seed comparisons (against CE, and JCAS against each row).
  std::string paired_tables(const std::vector<AblationRun>& runs, int seeds) const;
  Metrics train_one(const std::string& variant, int seed, const std::string& fingerprint, H5Writer& out);

  const PlannedStage& pseudo_labels(int seed) const;
  const PipelinePlan& plan(int seed) const { return *plans_.at(static_cast<size_t>(seed)); }
  std::vector<const PipelinePlan*> plans_;  // of every seed (all the work directory's with seed_varies = order)
  AblationOptions o_;
  AblationTrainOptions train_;  // the pipeline's options with --quick applied
  std::map<std::pair<std::string, int64_t>, Labels> labels_;  // by noise kind and noise seed
};

}  // namespace jcas
