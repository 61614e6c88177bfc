#pragma once
// The label filters of the SFDA baselines: which pseudo-label pixels a method trains on; the others
// become ignore (255).
#include <torch/torch.h>

#include "adapters/foundation/option_binder.h"
#include "adapters/io/segmentation_dataset.h"
#include "pipeline/method/inference_mode.h"
#include "pipeline/model/segmentation_model.h"
#include "pipeline/execution/execution_context.h"

namespace jcas {

// Which pseudo-label pixels a method trains on (the rest become ignore, 255):
//   class_balanced: CBST (Zou et al., ECCV 2018), per class the most confident share;
//   dpl: DPL (Chen et al., MICCAI 2021), low uncertainty across views and agreeing with the
//        nearest class prototype of the embedding.
enum class LabelFilter { none, class_balanced, dpl };

struct LabelFilterOptions {
  // class_balanced, CBST's schedule: round r keeps min(cbst_start + r cbst_step, cbst_portion) of
  // each class (the paper: 20 %, 5 % more every round, at most 50 %).
  double cbst_portion = 0.5;
  double cbst_start = 0.2, cbst_step = 0.05;
  // class_balanced: CBST's class-normalised labels (argmax_c p_c / λ_c, λ_c the class's threshold,
  // kept where the ratio reaches 1), or the pseudo labels as they are with each class's most
  // confident share kept exactly.
  bool cbst_normalised = true;
  double dpl_uncertainty = 0.05;   // dpl: kept where the pseudo class's probability varies less (std) across views
  int dpl_views = 4;               // dpl: identity, flip, and both with input noise, then repeated
  double dpl_noise = 0.05;         // dpl: std of the Gaussian noise added to the normalised image
  void bind(OptionBinder& b);      // keys relative to the binder's section
  void check() const;
  double cbst_share(int round) const;  // the share of each class kept in round `round`
};

struct FilteredLabels {
  torch::Tensor labels;  // N x H x W uint8, rejected pixels 255
  double kept = 1.0;     // share of the pseudo-labelled pixels kept
  // Per class c: pixels labelled c after the filter over pixels pseudo-labelled c (K, float64;
  // CBST's class-normalised labels may move a pixel to another class).
  torch::Tensor kept_per_class;
};

// class_balanced (CBST, Zou et al., ECCV 2018): per class c the threshold λ_c is the confidence of
// the pixels labelled c at that class's top cbst_share(round) (a per-class threshold, so
// rare classes keep as large a share as the background). Normalised (CBST's default): every pixel
// is relabelled argmax_c p_c / λ_c and kept where that ratio is at least 1, λ_c taken from the
// model's own probabilities (it re-runs twice: thresholds, then labels). Otherwise exactly that
// share of each class's pseudo labels is kept, by their stored 8-bit confidences.
// dpl (DPL, Chen et al., MICCAI 2021): the pixel-level uncertainty is the standard deviation of
// the pseudo class's probability over `dpl_views` passes; DPL draws them with MC dropout, which
// the native network and most imported models lack, so here the views are flips and input noise.
// Kept: low uncertainty and the pixel's embedding nearest (cosine) to its own class's prototype,
// the prototypes being per image the mean embeddings of its low-uncertainty pixels of each class.
// `labels` N x H x W uint8 and `confidence` (max probability x 255, same size) are the round's
// pseudo labels; the model is the one that made them (dpl re-runs it). In a data-parallel run the
// ranks share dpl's batches (the same draws, so the same result as one process).
FilteredLabels filter_pseudo_labels(LabelFilter filter, const torch::Tensor& labels, const torch::Tensor& confidence,
                                    SegmentationModel& model, const SegmentationDataset& images,
                                    const InferenceMode& mode, const LabelFilterOptions& options, int round,
                                    const ExecutionContext& execution);

}  // namespace jcas
