#include "pipeline/training/label_free_scoring.h"

#include "pipeline/training/inference.h"

namespace jcas {

std::vector<std::pair<std::string, double>> label_free_scores(SegmentationModel& model,
                                                              const SegmentationDataset& images,
                                                              const InferenceMode& mode,
                                                              const ExecutionContext& execution,
                                                              const std::string& label, bool mirrored,
                                                              const LabelFreeCriteriaOptions& options) {
  LabelFreeCriteria criteria(model.num_classes(), static_cast<int64_t>(images.size()), options);
  predict_images(
      model, images, mode, execution, label,
      [&](size_t i, const Sample&, const ImagePrediction& p) {
        // The softmax read-out beside a DAR read-out, for dar_agreement.
        torch::Tensor softmax;
        if (mode.dar)
          softmax = predict_probabilities({}, p.logits.unsqueeze(0), static_cast<int>(p.probabilities.size(1)),
                                          static_cast<int>(p.probabilities.size(2)), InferenceMode{})
                        .squeeze(0);
        criteria.add(static_cast<int64_t>(i), p.probabilities, p.mirrored, softmax);
      },
      mirrored);
  return criteria.values();
}

}  // namespace jcas
