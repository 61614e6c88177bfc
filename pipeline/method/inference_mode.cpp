#include "pipeline/method/inference_mode.h"

#include "pipeline/method/affinity_loss.h"
#include "pipeline/method/class_loss.h"
#include "pipeline/method/dar.h"

namespace jcas {

InferenceMode InferenceMode::of(const JcasLossOptions& o, bool dar) {
  InferenceMode m;
  m.dar = dar;
  m.grid_h = o.affinity_h;
  m.grid_w = o.affinity_w;
  m.impl = o.affinity_impl;
  m.complement = o.dar_complement;
  return m;
}

namespace {
const std::string kImageStatistics = "+image_statistics";
}

std::string InferenceMode::readout() const {
  const std::string head = !dar ? "softmax" : complement == DarComplement::normalised ? "dar" : "dar_affinity";
  return image_statistics ? head + kImageStatistics : head;
}

bool InferenceMode::set_readout(const std::string& name) {
  std::string head = name;
  const bool own_statistics =
      head.size() > kImageStatistics.size() && head.compare(head.size() - kImageStatistics.size(), std::string::npos,
                                                           kImageStatistics) == 0;
  if (own_statistics) head.resize(head.size() - kImageStatistics.size());
  if (head != "softmax" && head != "dar" && head != "dar_affinity") return false;
  dar = head != "softmax";
  complement = head == "dar_affinity" ? DarComplement::affinity : DarComplement::normalised;
  image_statistics = own_statistics;
  return true;
}

torch::Tensor predict_probabilities(const torch::Tensor& feat2, const torch::Tensor& pred2, int out_h, int out_w,
                                    const InferenceMode& m) {
  if (!m.dar) return torch::softmax(resize_bilinear(pred2, out_h, out_w), 1);
  auto fhat = normalized_embeddings(feat2, m.grid_h, m.grid_w);
  auto p = resize_bilinear(pred2, m.grid_h, m.grid_w);
  auto pdar = m.impl == AffinityImpl::tiled ? dar_lowrank(fhat, p, m.complement)
                                            : dar_dense(affinity_matrix(fhat), p, m.complement);
  return (resize_bilinear(torch::softmax(pdar, 1), out_h, out_w) + resize_bilinear(torch::softmax(p, 1), out_h, out_w)) / 2;
}

}  // namespace jcas
