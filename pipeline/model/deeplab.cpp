#include "pipeline/model/deeplab.h"

#include <fmt/format.h>

#include "adapters/foundation/error.h"
#include "pipeline/model/inverted_residual_blocks.h"
#include "pipeline/model/model_io.h"
#include "pipeline/model/residual_blocks.h"

namespace jcas {

namespace nn = torch::nn;

void ModelOptions::bind(OptionBinder& b) {
  b.bind("preset", &preset,
         "small (CPU) | resnet101 | mobilenet_v2 (the last two take torchvision's ImageNet weights: "
         "--source.backbone_weights)");
  b.bind("width", &width, "base channels of the small preset");
  b.bind("feat1_dim", &feat1_dim, "auxiliary embedding width (reference: 128)");
  b.bind("feat2_dim", &feat2_dim, "main embedding width (reference: 256)");
  b.bind("embedding", &embedding,
         "shared (the embedding is the classifier's input) | separate (the reference's embedding heads beside the "
         "classifiers)");
  b.bind("batchnorm", &batchnorm,
         "batch (training normalises with each batch's statistics, per rank in data-parallel runs) | sync (with the "
         "statistics of every rank's batch together: SyncBatchNorm; one process: as batch) | frozen (running statistics "
         "only). With sync or frozen a run's result does not depend on how its global batch is split over ranks");
  // Added after work directories existed: at its default it stays out of the fingerprints.
  b.added_later().bind("input_norm", &input_norm,
                       "reference (images enter as jcas reads them: BGR, (v-128)/128) | imagenet (turned into "
                       "torchvision's ImageNet normalisation first: what ImageNet weights expect)");
}

void ModelOptions::check() const {
  const ModelOptions& o = *this;
  if (o.preset != "small" && o.preset != "resnet101" && o.preset != "mobilenet_v2")
    throw UserError(fmt::format("model preset '{}' is unknown (expected small, resnet101 or mobilenet_v2)", o.preset));
  if (o.input_norm != "reference" && o.input_norm != "imagenet")
    throw UserError(fmt::format("--model.input_norm '{}' is unknown (expected reference or imagenet)", o.input_norm));
  if (o.batchnorm != "batch" && o.batchnorm != "sync" && o.batchnorm != "frozen")
    throw UserError(fmt::format("--model.batchnorm '{}' is unknown (expected batch, sync or frozen)", o.batchnorm));
  if (o.embedding != "shared" && o.embedding != "separate")
    throw UserError(fmt::format("--model.embedding '{}' is unknown (expected shared or separate)", o.embedding));
  if (o.num_classes < 2) throw UserError(fmt::format("model num_classes must be >= 2, got {}", o.num_classes));
  if (o.feat1_dim < 1 || o.feat2_dim < 1) throw UserError("model feat1_dim and feat2_dim must be positive");
  if (o.dilations.empty()) throw UserError("model dilations must name at least one dilation");
  for (int d : o.dilations)
    if (d < 1) throw UserError(fmt::format("model dilation {} must be >= 1", d));
  if (o.head_width < 1) throw UserError("model head_width must be positive");
  if (o.preset == "small") {
    if (o.width < 1) throw UserError("model width must be positive");
    if (o.blocks.size() != 4) throw UserError(fmt::format("model blocks must list 4 stages, got {}", o.blocks.size()));
    for (int b : o.blocks)
      if (b < 1) throw UserError("model blocks must be >= 1 per stage");
    if (o.width_multipliers.size() != 4)
      throw UserError(fmt::format("model width_multipliers must list 4 stages, got {}", o.width_multipliers.size()));
    for (int m : o.width_multipliers)
      if (m < 1) throw UserError("model width_multipliers must be >= 1 per stage");
  }
}

DeepLabImpl::DeepLabImpl(ModelOptions o) : options_(std::move(o)) {
  options_.check();
  backbone_ = register_module("backbone", std::make_shared<nn::Module>());
  int c3, c4;
  if (options_.preset == "mobilenet_v2") {
    MobileNetV2Stages m = make_mobilenet_v2_stages();
    stem_ = backbone_->register_module("stem", m.parts[0]);
    stage1_ = backbone_->register_module("stage1", m.parts[1]);
    stage2_ = backbone_->register_module("stage2", m.parts[2]);
    stage3_ = backbone_->register_module("stage3", m.parts[3]);
    stage4_ = backbone_->register_module("stage4", m.parts[4]);
    c3 = m.stage3_channels;
    c4 = m.stage4_channels;
  } else {
    build_resnet_backbone(c3, c4);
  }
  register_heads(c3, c4);
}

void DeepLabImpl::build_resnet_backbone(int& c3, int& c4) {
  const bool big = options_.preset == "resnet101";
  const int width = big ? 64 : options_.width;
  const std::vector<int> blocks = big ? std::vector<int>{3, 4, 23, 3} : options_.blocks;
  const std::vector<int> mult = big ? std::vector<int>{1, 2, 4, 8} : options_.width_multipliers;
  // ResNet stem: 7x7 for the ImageNet-sized preset, a cheaper 3x3 for the small one.
  const int k = big ? 7 : 3;
  stem_ = backbone_->register_module(
      "stem", nn::Sequential(nn::Conv2d(nn::Conv2dOptions(3, width, k).stride(2).padding(k / 2).bias(false)),
                             SyncBatchNorm2d(width), nn::ReLU(),
                             nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(2).padding(1))));
  int c1, c2;
  stage1_ = backbone_->register_module("stage1", make_stage(big, width, width * mult[0], blocks[0], 1, 1, c1));
  stage2_ = backbone_->register_module("stage2", make_stage(big, c1, width * mult[1], blocks[1], 2, 1, c2));
  // Dilation instead of stride keeps output stride 8 (DeepLab-v2).
  stage3_ = backbone_->register_module("stage3", make_stage(big, c2, width * mult[2], blocks[2], 1, 2, c3));
  stage4_ = backbone_->register_module("stage4", make_stage(big, c3, width * mult[3], blocks[3], 1, 4, c4));
}

void DeepLabImpl::register_heads(int c3, int c4) {
  const bool big = options_.preset == "resnet101";
  auto head = [&](int in, int dim, bool logits) {
    return AsppHead(
        HeadSpec{in, big ? dim : options_.head_width, dim, options_.num_classes, options_.dilations, logits});
  };
  aux_head_ = register_module("aux_head", head(c3, options_.feat1_dim, true));
  main_head_ = register_module("main_head", head(c4, options_.feat2_dim, true));
  if (options_.embedding == "separate") {
    aux_embedding_ = register_module("aux_embedding", head(c3, options_.feat1_dim, false));
    main_embedding_ = register_module("main_embedding", head(c4, options_.feat2_dim, false));
  }
}

ModelOutput DeepLabImpl::forward(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == 3, "DeepLab expects B x 3 x H x W, got ", x.sizes());
  auto y = stage2_->forward(stage1_->forward(stem_->forward(normalise_input(x))));
  auto mid = stage3_->forward(y);
  auto end = stage4_->forward(mid);
  ModelOutput out;
  std::tie(out.feat1, out.pred1) = aux_head_->forward(mid);
  std::tie(out.feat2, out.pred2) = main_head_->forward(end);
  if (aux_embedding_) {
    out.feat1 = aux_embedding_->forward(mid).first;
    out.feat2 = main_embedding_->forward(end).first;
  }
  return out;
}

torch::Tensor DeepLabImpl::normalise_input(const torch::Tensor& x) const {
  if (options_.input_norm == "reference") return x;
  // RGB v/255 from BGR (v-128)/128, then ImageNet's mean and std: one multiply-add per channel.
  const double mean[3] = {0.485, 0.456, 0.406}, std[3] = {0.229, 0.224, 0.225};
  float scale[3], shift[3];
  for (int c = 0; c < 3; ++c) {
    scale[c] = static_cast<float>(128.0 / 255.0 / std[c]);
    shift[c] = static_cast<float>((128.0 / 255.0 - mean[c]) / std[c]);
  }
  auto to = torch::TensorOptions().dtype(x.scalar_type()).device(x.device());
  auto s = torch::tensor(at::ArrayRef<float>(scale, 3)).to(to).view({1, 3, 1, 1});
  auto t = torch::tensor(at::ArrayRef<float>(shift, 3)).to(to).view({1, 3, 1, 1});
  return torch::addcmul(t, x.flip(1), s);
}

ModuleState DeepLabImpl::state() const { return module_state(*this); }

ModelDescription DeepLabImpl::describe() const { return {"deeplab", option_texts(options_), ""}; }

void DeepLabImpl::set_training(bool on) {
  train(on);
  if (on && options_.batchnorm == "frozen") set_batchnorm_training(false);
}

void DeepLabImpl::set_batchnorm_training(bool on) {
  for (const auto& m : modules(/*include_self=*/false))
    if (auto* bn = m->as<SyncBatchNorm2dImpl>()) bn->train(on);
}

bool DeepLabImpl::set_batchnorm_replicas(const ReplicaSum& sum, double loss_weight) {
  if (options_.batchnorm != "sync") return false;
  for (const auto& m : modules(/*include_self=*/false))
    if (auto* bn = m->as<SyncBatchNorm2dImpl>()) bn->set_replicas(sum, loss_weight);
  return true;
}

std::vector<torch::Tensor> DeepLabImpl::backbone_parameters() const { return backbone_->parameters(); }

std::vector<torch::Tensor> DeepLabImpl::early_parameters() const {
  std::vector<torch::Tensor> p;
  for (const auto& part : {stem_, stage1_, stage2_}) {
    auto q = part->parameters();
    p.insert(p.end(), q.begin(), q.end());
  }
  return p;
}

std::vector<torch::Tensor> DeepLabImpl::head_parameters() const {
  std::vector<torch::Tensor> p;
  for (const auto& head : {aux_head_, main_head_, aux_embedding_, main_embedding_}) {
    if (!head) continue;
    auto q = head->parameters();
    p.insert(p.end(), q.begin(), q.end());
  }
  return p;
}

}  // namespace jcas
