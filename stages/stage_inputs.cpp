#include "stages/stage_inputs.h"

#include "adapters/io/h5_store.h"
#include "adapters/foundation/error.h"
#include "pipeline/model/model_io.h"

namespace jcas {
namespace {
DatasetOptions dataset_options(const StageContext& ctx, const std::filesystem::path& root) {
  DatasetOptions o;
  o.root = root.string();
  o.image_dir = ctx.config().text("data.image_dir");
  o.label_dir = ctx.config().text("data.label_dir");
  std::tie(o.input_h, o.input_w) = ctx.config().size("data.input_size");
  return o;
}
}  // namespace

SegmentationDataset open_source(const StageContext& ctx, const std::string& split) {
  return SegmentationDataset(dataset_options(ctx, ctx.source_root()), split, true);
}

SegmentationDataset open_target(const StageContext& ctx, const std::string& split, bool with_labels) {
  return SegmentationDataset(dataset_options(ctx, ctx.target_root()), split, with_labels);
}

bool target_has_labels(const StageContext& ctx) {
  return std::filesystem::is_directory(ctx.target_root() / ctx.config().text("data.label_dir"));
}

int target_num_classes(const StageContext& ctx) { return read_dataset_info(ctx.target_root().string()).num_classes; }

ModelOptions model_options(const PipelineConfig& config, int num_classes) {
  ModelOptions o;
  o.num_classes = num_classes;
  o.preset = config.text("model.preset");
  o.width = config.integer("model.width");
  o.feat1_dim = config.integer("model.feat1_dim");
  o.feat2_dim = config.integer("model.feat2_dim");
  validate(o);
  return o;
}

DeepLab build_model(const PipelineConfig& config, int num_classes, uint64_t seed) {
  torch::manual_seed(seed);
  return DeepLab(model_options(config, num_classes));
}

StageKey model_of_round(int round) { return round == 0 ? StageKey{"source", 0} : StageKey{"retrain", round - 1}; }

torch::Device torch_device(const StageContext& ctx) {
  if (ctx.device() == "cuda") {
    if (!torch::cuda::is_available()) throw UserError("--device cuda: this LibTorch build has no usable CUDA device");
    return torch::Device(torch::kCUDA);
  }
  return torch::Device(torch::kCPU);
}

DeepLab load_model(const StageContext& ctx, const StageKey& producer, int num_classes) {
  DeepLab model(model_options(ctx.config(), num_classes));
  H5Reader in(ctx.result_path(producer));
  read_module(in, "model", *model);
  model->to(torch_device(ctx));
  model->eval();
  return model;
}

}  // namespace jcas
