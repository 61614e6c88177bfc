#pragma once
// The training loop shared by the source and retrain stages: SGD with momentum, poly decay,
// heads at 10x lr, NTMs at their own lr, horizontal flips, and an epoch checkpoint from which an
// interrupted run resumes to the same result as an uninterrupted one.
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "adapters/io/segmentation_dataset.h"
#include "pipeline/method/segmentation_loss.h"
#include "pipeline/model/segmentation_model.h"
#include "pipeline/execution/execution_context.h"

namespace jcas {

enum class Optimizer { sgd, adam };

struct TrainerOptions {
  int epochs = 1;
  // SGD with momentum and weight decay, or Adam (β = 0.9, 0.999, no weight decay; Tent's).
  Optimizer optimizer = Optimizer::sgd;
  int warmup_epochs = 0;  // epochs trained with `warmup_loss` instead of the main loss
  int batch_size = 4;
  double lr = 0.01, ntm_lr = 0.001, momentum = 0.9, weight_decay = 5e-4, poly_power = 0.9;  // power 0: constant rate
  double head_lr_factor = 10;  // the heads' rate over the backbone's (the reference's 10x)
  bool flips = true;           // each sample flipped horizontally with probability 1/2
  bool ntm_lr_tied = false;                // the reference's effective NTM rate: the backbone's, decayed alike
  std::vector<torch::Tensor> frozen;       // parameters left out of the optimiser
  bool batchnorm_statistics_frozen = false;  // BatchNorm in evaluation mode while training
  uint64_t seed = 0;
  std::string label = "train";          // shown on the progress bar
  std::filesystem::path checkpoint;     // empty: no checkpoint
  std::string checkpoint_key;           // a checkpoint is resumed only if it carries this key
  std::string validation_name = "validation mJac";  // what the validation callback scores, for the log
  // The network's forward pass under LibTorch's CPU autocast to bfloat16 (convolutions and matrix
  // products in bfloat16, the rest and the loss in float32); CPU only.
  bool bfloat16 = false;
};

struct EpochLog {
  double loss = 0, seg = 0, aff = 0, seconds = 0;
  double validation = -1;  // selection score when a validation callback is given
};

struct TrainResult {
  std::vector<EpochLog> epochs;
  int selected_epoch = 0;  // 1-based epoch whose weights `model` holds at the end
  int resumed_from = 0;    // epochs restored from the checkpoint
};

// One optimisation step of train_model, shared with jcas-bench so that it times the real step. Holds
// the optimiser (SGD with momentum, or Adam), param groups backbone (lr), heads (head_lr_factor lr) and NTMs
// (ntm_lr, or lr when tied; no weight decay), each without the frozen parameters.
// What a batch's loss is a mean over, so what its gradients weigh when the ranks of a step are
// averaged: the labelled pixels of `labels` (B x H x W; 0 when undefined or empty).
double loss_weight(const torch::Tensor& labels);

class TrainingStep {
 public:
  TrainingStep(SegmentationModel& model, SegmentationLossImpl& loss, const TrainerOptions& options,
               const ExecutionContext& execution);
  // Poly decay: every group's base rate times `factor`.
  void set_rate_factor(double factor);
  // Gradients zeroed, `active`'s loss of the batch back-propagated, gradients averaged over the
  // ranks, SGD step. `x` undefined or empty: this rank has no batch this step (it still joins the
  // average; the terms returned are undefined or not finite). Non-finite model outputs are a UserError naming `where()`.
  LossTerms run(SegmentationLossImpl& active, const torch::Tensor& x, const torch::Tensor& y,
                const torch::Tensor& class_dist, const std::function<std::string()>& where);
  torch::optim::Optimizer& optimizer() { return *optimizer_; }
  // Seconds spent averaging gradients over the ranks so far (jcas-bench's all-reduce share).
  double averaging_seconds() const { return averaging_seconds_; }
  // Whether the model's BatchNorm synchronises over the ranks (--model.batchnorm sync with several
  // ranks): then a rank without samples passes an empty batch (0 x C x H x W) instead of none, as
  // its forward and backward must join the others' BatchNorm all-reduces.
  bool synchronises_batchnorm() const { return synchronises_batchnorm_; }

 private:
  SegmentationModel& model_;
  TrainerOptions options_;
  const ExecutionContext& execution_;
  std::vector<double> base_rates_;   // each group's undecayed rate
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::vector<torch::Tensor> trained_;  // what the step updates: the model's and the NTMs' parameters
  double averaging_seconds_ = 0;
  bool synchronises_batchnorm_ = false;
};

// Trains `model` on `images` with `labels` (N x H x W uint8, in dataset order; 255 = ignore).
// `validate`, if given, scores the model after each epoch and the best epoch is kept; otherwise
// the last epoch is. `class_dist` is the class distribution handed to the loss (consistency term).
// `execution` decides the device, this process's share of each epoch and whether it writes
// checkpoints.
TrainResult train_model(SegmentationModel& model, SegmentationLossImpl& loss, SegmentationLossImpl* warmup_loss,
                        const SegmentationDataset& images, const torch::Tensor& labels,
                        const torch::Tensor& class_dist, const TrainerOptions& options,
                        const ExecutionContext& execution,
                        const std::function<double(SegmentationModel&)>& validate = nullptr);

}  // namespace jcas
