#pragma once
// The paper's ablation (DESIGN §3.7) on the target train split: every variant of the loss is trained
// from the source model on the same training labels — synthetic noise on the clean target labels
// or the source model's pseudo labels (the SFDA setting) — selected on the validation split and
// scored on the test split, over several seeds. Every (noise, variant, seed) run is one cached
// HDF5 result with a fingerprint, and long runs checkpoint, so an interrupted ablation continues.
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "pipeline/method/jcas_loss.h"
#include "pipeline/runner/pipeline_plan.h"

namespace jcas {

// The rows of the ablation table, in order.
//   upper_bound  CE on the clean labels (the upper bound)
//   ce           baseline: CE on the noisy labels
//   affinity     + affinity branch                (affinity on,  DAR off, CALC off)
//   dar          + DAR                            (affinity on,  DAR on,  CALC off)
//   calc         + CALC                           (affinity on,  DAR off, CALC on)
//   jcas         JCAS: affinity + DAR + CALC
//   volmin       class-level forward correction with log-det (reference baseline)
//   sparsereg    logit normalisation + p-norm (reference baseline)
// "+DAR" and "+CALC" each add one component to "+affinity", and JCAS adds both, so the rows show
// what each component brings alone and together.
const std::vector<std::string>& ablation_variant_names();
std::string ablation_variant_title(const std::string& variant);
// The loss of a variant: `base` (the [retrain] loss options: weights, grid, ...) with the variant's
// method and switches. UserError for an unknown variant.
JcasLossOptions ablation_variant_loss(const std::string& variant, JcasLossOptions base);
// Whether the variant corrects the labels with learnable NTMs (CALC or VolMin).
bool ablation_variant_corrects(const std::string& variant);

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
  // UserError naming the first bad option.
  void validate() const;
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
  std::string fingerprint(const std::string& variant, int seed) const;
  AblationRun train_one(const std::string& variant, int seed, const std::string& fingerprint);
  // T_C estimated from the source model's probabilities against the training labels and its
  // derived T_A (or the identity init), as the retrain stage initialises its NTMs.
  std::pair<torch::Tensor, torch::Tensor> initial_ntms(const torch::Tensor& labels, const torch::Tensor& class_dist);

  const PipelinePlan& plan_;
  AblationOptions o_;
  PipelineConfig train_config_;  // the pipeline's config with --quick applied
  std::map<std::string, Labels> labels_;
};

}  // namespace jcas
