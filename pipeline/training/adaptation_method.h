#pragma once
// An adaptation method: how a model is retrained on a round's (pseudo) labels. Its loss and warm-up,
// whether it starts from AdaBN, which parameters it trains, which labels it keeps and how its
// models are read out. Each method is one file in methods/, listed in adaptation_registry.cpp; the
// retrain recipe (retrain_recipe.h) applies it.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "pipeline/method/inference_mode.h"
#include "pipeline/method/jcas_loss.h"
#include "pipeline/method/segmentation_loss.h"
#include "pipeline/model/segmentation_model.h"
#include "pipeline/training/pseudo_label_filters.h"
#include "pipeline/training/tuning_knob.h"
#include "pipeline/training/trainer.h"

namespace jcas {

class OptionBinder;

// Settings that one method alone reads ([retrain] keys).
struct MethodSettings {
  double volmin_lambda = 1e-4;  // VolMin's weight of log|det T_C| (its code's default λ)
  double tent_lr = 1e-3;        // Tent's Adam rate (its code's default)
  void bind(OptionBinder& b);
  void check() const;
};

// The columns of the paper's ablation table (affinity, DAR, CALC) a method switches on.
struct JcasComponents {
  bool affinity = false, dar = false, calc = false;
};

class AdaptationMethod {
 public:
  virtual ~AdaptationMethod() = default;
  virtual std::string name() const = 0;
  virtual std::string title() const = 0;  // a table row's title
  // A row of the paper's ablation (`jcas ablation`), and the components it switches on.
  virtual bool paper_ablation() const { return false; }
  virtual JcasComponents components() const { return {}; }

  // The loss it trains with, given the [retrain] weights, affinity grid and implementation;
  // nullptr for a method that takes no gradient step (AdaBN).
  virtual SegmentationLoss loss(int num_classes, const JcasLossOptions& options, const MethodSettings& settings) const = 0;
  // The loss of the first --retrain.warmup_epochs epochs; nullptr: no warm-up.
  virtual SegmentationLoss warmup_loss(int /*num_classes*/, const JcasLossOptions& /*options*/) const {
    return nullptr;
  }
  // BatchNorm statistics recomputed on the target first, whatever --pseudo_label.adabn says.
  virtual bool starts_with_adabn() const { return false; }
  // The parameters it trains (the others stay as they are): by default all of them.
  virtual std::vector<torch::Tensor> trainable_parameters(const SegmentationModel& model) const;
  // Its NTMs start from the round's estimate (--retrain.ntm_init estimate) rather than the
  // reference's W = -2; VolMin's point is to need no such estimate.
  virtual bool uses_ntm_estimate() const { return corrects(); }
  // What it changes in the trainer the [retrain] options set up (Tent: one pass with Adam).
  virtual void configure(TrainerOptions& /*run*/, const MethodSettings& /*settings*/) const {}
  // Raised when what the method computes changes under the same options, so results cached with
  // an earlier revision are recomputed (the retrain stage's fingerprint carries it when non-zero).
  // Revision 1 of the class-balanced filter is CBST's schedule and class-normalised labels.
  virtual int revision() const { return label_filter() == LabelFilter::class_balanced ? 1 : 0; }
  // Its loss reads the labels (Tent's entropy does not).
  virtual bool reads_labels() const { return true; }
  // Which pseudo-label pixels it trains on.
  virtual LabelFilter label_filter() const { return LabelFilter::none; }
  // Its main knob for an equal tuning budget (none unless it overrides this).
  virtual TuningKnob tuning_knob() const { return {}; }
  // How its models are read out: softmax unless it overrides this.
  virtual InferenceMode readout(const JcasLossOptions& options) const { return InferenceMode::of(options, false); }

  // Its loss learns noise transition matrices (CALC, VolMin), which then start from the round's
  // estimate.
  bool corrects() const;
  // Takes gradient steps (has a loss).
  bool trains() const;
};

}  // namespace jcas
