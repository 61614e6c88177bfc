#pragma once
// What each stage writes into its HDF5 result, as types: the one place that knows the dataset
// names. Stages write through these, and every reader (the next stage, the ablation, the report)
// reads through them.
#include <torch/torch.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/method/inference_mode.h"
#include "pipeline/model/segmentation_model.h"

namespace jcas {

class H5Writer;

// A model held by a result (source, retrain[r]): its weights under "model/" (one dataset per
// parameter and buffer), what it is — the native network with the options it was built with, or
// a TorchScript module (its serialized bytes and input convention) — and how it is read out
// (DAR-refined or plain softmax).
struct StoredModel {
  std::shared_ptr<SegmentationModel> net;
  InferenceMode inference;
  // Writes the model (moved to the CPU first) and its description.
  static void write(H5Writer& out, SegmentationModel& net, const InferenceMode& inference);
  // The model of `file` on `device`, in eval mode. UserError naming the file if it holds none.
  static StoredModel read(const std::filesystem::path& file, c10::Device device);
};

struct PseudoLabels {
  torch::Tensor labels;         // N x H x W uint8 class ids
  torch::Tensor confidence;     // N x H x W uint8, max probability * 255
  torch::Tensor probabilities;  // N x K x H/s x W/s float, mean over s x s blocks
  int64_t prob_stride = 4;
  std::vector<std::string> images;
  std::string model;  // the result whose model made them ("source[0]", "retrain[0]")
  void write(H5Writer& out) const;
  static PseudoLabels read(const std::filesystem::path& file);
  // `labels` (N x H x W, e.g. other noisy labels of the same images) sampled at the centre of each
  // prob_stride block, matching `probabilities`.
  torch::Tensor at_prob_resolution(const torch::Tensor& labels) const;
};

struct NtmEstimate {
  std::string estimator;
  torch::Tensor class_ntm;   // K x K, rows = clean class
  torch::Tensor class_dist;  // K, fraction of pseudo-labelled pixels
  // Where the target has ground truth:
  torch::Tensor true_class_ntm, true_affinity_ntm, true_class_dist;
  std::map<std::string, torch::Tensor> estimates;  // every estimator's T_C
  void write(H5Writer& out) const;
  static NtmEstimate read(const std::filesystem::path& file);
};

struct AffinityDerivation {
  torch::Tensor affinity_ntm;  // 2 x 2, index 0 = dissimilar
  torch::Tensor class_ntm, class_dist;  // what it was derived from
  void write(H5Writer& out) const;
  static AffinityDerivation read(const std::filesystem::path& file);
};

// retrain[r]: the model of round r+1 (a StoredModel in the same file) and how it was trained.
struct RetrainOutcome {
  // End of retraining; undefined for a method that learns none (only CALC learns T_A).
  torch::Tensor learned_class_ntm, learned_affinity_ntm;
  torch::Tensor epoch_loss;                               // epochs, float64
  int64_t selected_epoch = 0, resumed_from_epoch = 0;  // 0: no gradient step (AdaBN)
  std::string selection;
  double kept = 1.0;  // share of the pseudo-labelled pixels the method's filter kept
  void write(H5Writer& out) const;
  static RetrainOutcome read(const std::filesystem::path& file);
};

}  // namespace jcas
