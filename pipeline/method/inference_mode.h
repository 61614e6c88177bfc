#pragma once
// How a trained model is read out: the reference evaluates models trained with DAR by the average
// of softmax(P_dar) and softmax(P); every other model by softmax(P).
#include <torch/torch.h>

#include <string>

#include "pipeline/method/jcas_loss.h"

namespace jcas {

struct InferenceMode {
  bool dar = false;
  // BatchNorm normalises each image with its own statistics instead of the running ones (Tent's
  // test-time normalisation; one image at a time, so a prediction does not depend on its batch).
  bool image_statistics = false;
  // The affinity grid DAR runs on, its implementation and complement: the loss options' defaults
  // unless of() or a stored model sets them.
  int grid_h = JcasLossOptions().affinity_h, grid_w = JcasLossOptions().affinity_w;
  AffinityImpl impl = JcasLossOptions().affinity_impl;
  DarComplement complement = JcasLossOptions().dar_complement;
  // The DAR read-out (dar) or softmax, on the grid, implementation and complement of `trained_with`.
  static InferenceMode of(const JcasLossOptions& trained_with, bool dar);
  // "softmax", "dar" (the reference's DAR) or "dar_affinity" (the 1 − A complement), followed by
  // "+image_statistics" when set: how stored models, exports and predictions name their readout.
  std::string readout() const;
  // Sets dar, complement and image_statistics from readout(); false for a name it does not know.
  bool set_readout(const std::string& name);
};

// Inference as the reference evaluates (mode.dar): the average of
// softmax(P_dar) and softmax(P), both from the main head's logits resized to the affinity grid with
// the main head's affinity, each resized (bilinear, align_corners) to out_h×out_w. Otherwise
// softmax of pred2 resized to the output size. Returns B×K×out_h×out_w probabilities.
torch::Tensor predict_probabilities(const torch::Tensor& feat2, const torch::Tensor& pred2, int out_h, int out_w,
                                    const InferenceMode& mode);

}  // namespace jcas
