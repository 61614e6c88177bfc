#pragma once
// How a model is retrained on noisy labels — the [retrain] options and the one recipe that the
// retrain stage and the ablation share: the adaptation method's loss, NTMs started from an
// estimate (or the reference's W = -2), the warm-up without correction, and the trainer.
#include <torch/torch.h>

#include <functional>
#include <string>

#include "adapters/foundation/option_binder.h"
#include "pipeline/metrics/label_free_criteria.h"
#include "pipeline/model/segmentation_model.h"
#include "pipeline/training/adaptation_registry.h"
#include "pipeline/training/pseudo_label_filters.h"
#include "pipeline/training/trainer.h"

namespace jcas {

enum class NtmInit { estimate, identity };
// How a retrained model is read out: as its method reads out (DAR for methods trained with DAR,
// Tent's image statistics), or softmax / DAR whatever the method (the control that separates a
// read-out from the loss it came with).
enum class Readout { method, softmax, dar };
enum class Selection { last, val, label_free };
// pseudo: the round's pseudo labels; truth: the train split's own labels (the upper bound).
enum class TrainingLabels { pseudo, truth };
template <>
struct EnumNames<NtmInit> {
  static const std::vector<std::pair<NtmInit, const char*>>& table();
};
template <>
struct EnumNames<Readout> {
  static const std::vector<std::pair<Readout, const char*>>& table();
};
template <>
struct EnumNames<Selection> {
  static const std::vector<std::pair<Selection, const char*>>& table();
};
template <>
struct EnumNames<TrainingLabels> {
  static const std::vector<std::pair<TrainingLabels, const char*>>& table();
};

// What stays fixed while retraining (the reference: bn_affine and early).
struct FrozenParts {
  bool bn_stats = false;   // BatchNorm normalises with its running statistics and keeps them
  bool bn_affine = false;  // BatchNorm weights and biases
  bool early = false;      // the model's early stages (native network: stem, stage1, stage2)
  std::string text() const;
  static FrozenParts parse(const std::string& text);  // "bn_affine,early"; "" = none
};

struct RetrainOptions {
  int epochs = 8;
  int warmup_epochs = 2;  // first epochs of a correcting method without the correction
  int batch_size = 4;
  double lr = 0.005, ntm_lr = 0.001, momentum = 0.9, weight_decay = 0.0005;
  std::string method = "jcas";  // a name of adaptation_registry.h
  JcasLossOptions loss;         // weights, affinity grid and implementation
  NtmInit ntm_init = NtmInit::estimate;
  bool ntm_lr_tied = true;  // the reference's effective NTM rate: the backbone's (chosen on val)
  Selection select = Selection::last;
  std::string select_criterion;  // Selection::label_free: the criterion, on the images trained on
  TrainingLabels labels = TrainingLabels::pseudo;
  // AdaBN before any method (the adabn and tent methods always start with it). Not a [retrain]
  // key: the retrain stage binds it to [pseudo_label] adabn, continuing from the labelling model.
  bool adabn = false;
  FrozenParts freeze;
  LabelFilterOptions filter;
  MethodSettings settings;  // one method's own settings (volmin_lambda, tent_lr)
  Readout readout = Readout::method;

  void bind(OptionBinder& b);  // keys relative to [retrain]
  void check() const;
  const AdaptationMethod& adaptation() const { return adaptation_method(method); }
  // How the retrained models are read out.
  InferenceMode inference() const;
};

struct RetrainData {
  const SegmentationDataset* images = nullptr;  // the training split (its labels are not read)
  torch::Tensor labels;                          // N x H x W uint8 noisy labels, dataset order
  torch::Tensor confidence;                      // N x H x W uint8 of pseudo labels (class-balanced filter)
  InferenceMode labeller;                        // how the model that made them reads out (DPL filter)
  torch::Tensor class_dist;                      // K, proportions of `labels`
  // Where the NTMs start (ntm_init estimate, for a method that uses the estimate); undefined: the
  // reference's W = -2.
  torch::Tensor initial_class_ntm, initial_affinity_ntm;
  std::function<double(SegmentationModel&)> validate;  // selection score per epoch (select val)
  int round = 0;                                        // the pipeline round (CBST's schedule)
};

struct Retrained {
  TrainResult result;        // no epochs for a method that takes no gradient step (AdaBN)
  torch::Tensor labels;      // the labels trained on (after the method's filter)
  double kept = 1.0;         // share of the pseudo-labelled pixels the filter kept
  torch::Tensor kept_per_class;  // per class (FilteredLabels::kept_per_class)
  SegmentationLoss loss;     // with the learned NTMs; nullptr for a method that takes no gradient step
};

// Retrains `model` in place with `o`'s method. `run` names the progress label, checkpoint, its key
// and the seed; the recipe fills in everything else of the trainer from `o`.
Retrained retrain_model(SegmentationModel& model, const RetrainOptions& o, const RetrainData& data,
                        TrainerOptions run, const ExecutionContext& execution);

}  // namespace jcas
