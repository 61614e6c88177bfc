#include "pipeline/method/jcas_loss.h"

#include <stdexcept>

#include "adapters/foundation/error.h"

#include "pipeline/method/affinity_loss.h"
#include "pipeline/method/class_loss.h"
#include "pipeline/method/class_to_affinity.h"
#include "pipeline/method/dar.h"
#include "pipeline/method/dense_affinity_branch.h"

namespace jcas {

namespace F = torch::nn::functional;

const std::vector<std::pair<AffinityImpl, const char*>>& EnumNames<AffinityImpl>::table() {
  static const std::vector<std::pair<AffinityImpl, const char*>> t = {{AffinityImpl::dense, "dense"},
                                                                      {AffinityImpl::tiled, "tiled"}};
  return t;
}

const std::vector<std::pair<DarComplement, const char*>>& EnumNames<DarComplement>::table() {
  static const std::vector<std::pair<DarComplement, const char*>> t = {{DarComplement::normalised, "normalised"},
                                                                       {DarComplement::affinity, "affinity"}};
  return t;
}

void JcasLossOptions::bind(OptionBinder& b) {
  b.bind("lambda", &lambda, "lambda of the reference weighting");
  b.bind("volume_weight", &volume_weight, "volume minimisation weight");
  b.bind("consistency_weight", &consistency_weight, "class-affinity consistency weight");
  b.bind("affinity_weight", &affinity_weight, "weight of the affinity terms (reference: 1)");
  const std::string grid_key = b.prefix() + "affinity_grid";
  b.bind("affinity_grid", "affinity grid HxW (reference: 64x64 at 256x320)",
         [this] { return to_string(ImageSize{affinity_h, affinity_w}); },
         [this, grid_key](const std::string& t) {
           ImageSize s = parse_image_size(t, grid_key);
           affinity_h = s.height;
           affinity_w = s.width;
         });
  b.bind("affinity_impl", &affinity_impl, "affinity loss implementation");
  b.bind("affinity_ignore", &affinity_ignore, "pairs touching an ignore pixel");
  b.bind("dar_complement", &dar_complement,
         "DAR's inter-class half normalises 1 - rownorm(A) (normalised: the reference) or 1 - A (affinity)");
  b.bind("prior_tau", &prior_tau, "ce_prior: weight of log(class prior) added to the logits while training");
}

void JcasLossOptions::check() const {
  if (affinity_h < 1 || affinity_w < 1) throw UserError("affinity grid must be at least 1x1");
  if (sparse_tau <= 0) throw UserError("sparse_tau must be > 0");
  if (!(prior_tau >= 0)) throw UserError("--retrain.prior_tau must be >= 0");
  if (!(volume_weight >= 0) || !(consistency_weight >= 0) || !(lambda >= 0) || !(affinity_weight >= 0))
    throw UserError("loss weights (lambda, volume_weight, consistency_weight, affinity_weight) must be >= 0");
}

JcasLossImpl::JcasLossImpl(int num_classes, JcasLossOptions options)
    : num_classes_(num_classes), options_(std::move(options)) {
  if (num_classes < 2) throw std::invalid_argument("JcasLoss: num_classes must be >= 2");
  options_.check();
  class_ntm = register_module("class_ntm", LearnableNTM(num_classes));
  affinity_ntm = register_module("affinity_ntm", LearnableNTM(2));
}

namespace {

torch::Tensor logabsdet(const torch::Tensor& m) { return std::get<1>(torch::linalg_slogdet(m)); }

}  // namespace

LossTerms JcasLossImpl::forward(const torch::Tensor& feat1, const torch::Tensor& feat2, const torch::Tensor& pred1,
                                const torch::Tensor& pred2, const torch::Tensor& labels_in,
                                const torch::Tensor& class_dist) {
  const auto& o = options_;
  TORCH_CHECK(pred1.dim() == 4 && pred2.dim() == 4 && labels_in.dim() == 3, "JcasLoss: expected B×K×h×w logits and B×H×W labels");
  TORCH_CHECK(pred1.size(1) == num_classes_ && pred2.size(1) == num_classes_, "JcasLoss: logits must have K channels");
  auto labels = labels_in.to(torch::kLong);
  LossTerms t;
  t.aff1 = t.aff2 = t.volume = t.consistency = zero_term(pred2);
  torch::Tensor tc, ta;
  if (o.calc) {
    tc = class_ntm->matrix();
    if (o.affinity) ta = affinity_ntm->matrix();
  }
  const auto H = labels.size(1), W = labels.size(2);
  if (o.affinity) {
    const auto ignore = o.affinity_ignore;
    const bool tiled = o.affinity_impl == AffinityImpl::tiled;
    auto glab = grid_labels(labels, o.affinity_h, o.affinity_w);
    auto head = [&](const torch::Tensor& feat, const torch::Tensor& pred, torch::Tensor& aff, torch::Tensor& seg) {
      auto fhat = normalized_embeddings(feat, o.affinity_h, o.affinity_w);
      // The reference resizes the logits to the affinity grid first, then applies DAR there.
      torch::Tensor p = o.dar ? resize_bilinear(pred, o.affinity_h, o.affinity_w) : torch::Tensor(), pdar;
      if (tiled) {
        aff = affinity_bce_tiled(fhat, glab, ta, ignore);
        if (o.dar) pdar = dar_lowrank(fhat, p, o.dar_complement);
      } else if (fhat.device().is_cpu() && fhat.scalar_type() == torch::kFloat32) {
        auto branch = dense_affinity_branch(fhat, o.dar ? dar_product_operand(p) : torch::Tensor(), glab, ta, ignore);
        aff = branch.bce;
        if (o.dar) pdar = dar_from_products(branch.products, p, o.dar_complement);
      } else {
        auto a = affinity_matrix(fhat);
        aff = affinity_bce_dense(a, glab, ta, ignore);
        if (o.dar) pdar = dar_dense(a, p, o.dar_complement);
      }
      seg = o.dar ? class_branch_loss(p, pdar, labels, tc) : corrected_nll(resize_bilinear(pred, H, W), labels, tc);
    };
    head(feat2, pred2, t.aff2, t.seg2);
    if (one_head(feat1, feat2) && one_head(pred1, pred2)) {
      t.aff1 = t.aff2;
      t.seg1 = t.seg2;
    } else {
      head(feat1, pred1, t.aff1, t.seg1);
    }
  } else {
    t.seg2 = corrected_nll(resize_bilinear(pred2, H, W), labels, tc);
    t.seg1 = one_head(pred1, pred2) ? t.seg2 : corrected_nll(resize_bilinear(pred1, H, W), labels, tc);
  }
  if (o.calc) {
    t.volume = logabsdet(tc);
    if (o.affinity) {
      t.volume = t.volume + logabsdet(ta);
      if (!class_dist.defined() || class_dist.numel() != num_classes_)
        throw std::invalid_argument("JcasLoss: class_dist with one entry per class is required for the consistency term");
      // One convention for both (index 0 = dissimilar): the fixture's consistency is computed this way,
      // not with the reference loop's reversed order.
      auto c2a = class_to_affinity(tc, class_dist.to(tc.dtype()));
      t.consistency = F::mse_loss(c2a, ta);
    }
  }
  t.total = t.seg2 + o.lambda * t.seg1 + o.affinity_weight * (t.aff1 + o.lambda * t.aff2) + o.volume_weight * t.volume +
            o.consistency_weight * t.consistency;
  return t;
}

}  // namespace jcas
