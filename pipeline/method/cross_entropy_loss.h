#pragma once
// Cross-entropy on both heads: the source training's loss, the self-training baseline's, and the
// warm-up of VolMin.
#include "pipeline/method/segmentation_loss.h"

namespace jcas {

// Log-softmax NLL of `logits` (B×K×h×w) resized (bilinear) to the labels' size, ignore = 255.
torch::Tensor cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels);

class CrossEntropyLossImpl : public SegmentationLossImpl {
 public:
  explicit CrossEntropyLossImpl(double lambda) : lambda_(lambda) {}
  LossTerms forward(const torch::Tensor& feat1, const torch::Tensor& feat2, const torch::Tensor& pred1,
                    const torch::Tensor& pred2, const torch::Tensor& labels, const torch::Tensor& class_dist) override;

 private:
  double lambda_;  // weight of the auxiliary head
};

}  // namespace jcas
