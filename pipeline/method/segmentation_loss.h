#pragma once
// What the trainer needs of a loss: the model's outputs and the training labels in, every term
// out. JCAS (jcas_loss.h), plain cross-entropy (cross_entropy_loss.h) and each baseline's own
// loss (pipeline/training/methods/) implement it.
#include <torch/torch.h>

#include "pipeline/method/ntm.h"

namespace jcas {

// Every term, unweighted (terms a loss lacks are 0-dim zeros). total is what to back-propagate.
struct LossTerms {
  torch::Tensor total, seg1, seg2, aff1, aff2, volume, consistency;
};

class SegmentationLossImpl : public torch::nn::Module {
 public:
  // feat1/feat2: B×d×h×w embeddings, pred1/pred2: B×K×h×w logits (1 = auxiliary, 2 = main head);
  // labels B×H×W (uint8 or integer, 255 = ignore); class_dist: K class proportions of the training
  // labels (undefined where the caller has none; a loss that needs them says so).
  virtual LossTerms forward(const torch::Tensor& feat1, const torch::Tensor& feat2, const torch::Tensor& pred1,
                            const torch::Tensor& pred2, const torch::Tensor& labels,
                            const torch::Tensor& class_dist) = 0;
  // The noise transition matrices the loss learns (CALC, VolMin), started from the round's
  // estimate and stored with its result; nullptr for a loss that learns none.
  virtual LearnableNTM class_transition() const { return nullptr; }
  virtual LearnableNTM affinity_transition() const { return nullptr; }
};
using SegmentationLoss = std::shared_ptr<SegmentationLossImpl>;

// A 0-dim zero on `like`'s device and dtype: the value of a term a loss lacks.
inline torch::Tensor zero_term(const torch::Tensor& like) { return torch::zeros({}, like.options()); }

// A model with one head (an imported model without an auxiliary output) gives the same tensor as
// both heads' logits (and embeddings): the terms of both heads are then equal, and are computed once.
inline bool one_head(const torch::Tensor& a1, const torch::Tensor& a2) { return a1.is_same(a2); }

// The terms of a loss with one term per head and nothing else: total = seg2 + λ·seg1 (the
// reference's weighting of the auxiliary head). `term(logits)` computes one head's term.
template <typename Term>
LossTerms head_terms(const torch::Tensor& pred1, const torch::Tensor& pred2, double lambda, const Term& term) {
  LossTerms t;
  t.seg2 = term(pred2);
  t.seg1 = one_head(pred1, pred2) ? t.seg2 : term(pred1);
  t.aff1 = t.aff2 = t.volume = t.consistency = zero_term(t.seg2);
  t.total = t.seg2 + lambda * t.seg1;
  return t;
}

}  // namespace jcas
