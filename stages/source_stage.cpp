// The source model: trained with cross-entropy on the labelled source domain, or imported.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "adapters/foundation/error.h"
#include "adapters/foundation/log.h"
#include "adapters/io/h5_store.h"
#include "pipeline/model/model_io.h"
#include "pipeline/model/torchscript_model.h"
#include "pipeline/model/torchvision_weights.h"
#include "pipeline/execution/run_options.h"
#include "pipeline/training/adaptation_registry.h"
#include "pipeline/training/inference.h"
#include "pipeline/training/trainer.h"
#include "stages/dataset_options.h"
#include "stages/pipeline_stages.h"
#include "stages/stage_inputs.h"
#include "stages/stage_metrics.h"

namespace jcas {
namespace {

// A method whose loss trains on given labels as they are: no correction, no pseudo-label filter, no AdaBN.
bool trains_on_source_labels(const AdaptationMethod& m) {
  return m.trains() && m.reads_labels() && !m.corrects() && m.label_filter() == LabelFilter::none &&
         !m.starts_with_adabn();
}

struct SourceStageOptions {
  DataOptions data;
  ModelOptions model;
  std::string weights;
  std::string torchscript;  // the user's own model instead of the native network
  std::string backbone_weights;  // torchvision's ImageNet weights for the native backbone before training
  InputConvention input;
  int epochs = 12, batch_size = 4;
  double lr = 0.01;
  std::string method = "ce";  // ce, or the reference's stage 1: affinity (+ DAR) on the source labels
  ImageSize affinity_grid{16, 20};
  int64_t seed = 0;
  bool bfloat16 = false;

  // The options of source training's loss: `method`'s terms at `affinity_grid`.
  JcasLossOptions loss() const {
    JcasLossOptions l;
    l.affinity_h = affinity_grid.height;
    l.affinity_w = affinity_grid.width;
    return l;
  }

  void bind(OptionBinder& b) {
    OptionBinder d = b.section("data"), m = b.section("model"), s = b.section("source");
    data.bind(d);
    model.bind(m);
    s.bind("weights", &weights, "import source weights from an HDF5 file written by jcas instead of training");
    s.bind("torchscript", &torchscript,
           "adapt this TorchScript model (torch.jit.save) instead of training the native network (README: "
           "Bring your own model)");
    s.added_later().bind("backbone_weights", &backbone_weights,
                         "start the native network's backbone (--model.preset resnet101 or mobilenet_v2, "
                         "--model.input_norm imagenet) from torchvision's ImageNet weights, converted by "
                         "tools/python/torchvision_backbone.py");
    input.bind(s);
    s.bind("epochs", &epochs, "source training epochs");
    s.bind("batch_size", &batch_size, "source batch size");
    s.bind("lr", &lr, "source learning rate (heads 10x)");
    s.bind("method", &method,
           "source training loss: ce | affinity | dar (the reference's stage 1: affinity + DAR, so the embeddings "
           "are trained before adaptation)");
    s.bind("affinity_grid", &affinity_grid, "affinity grid HxW of source training (method affinity or dar)");
    bind_seed(b, &seed);
    bind_precision(b, &bfloat16);
  }
  void check() const {
    check_seed(seed);
    model.check();
    input.check();
    if (!weights.empty() && !torchscript.empty())
      throw UserError("--source.weights and --source.torchscript both name the source model: give one");
    if (!torchscript.empty() && model.batchnorm != "batch")
      throw UserError(fmt::format("--model.batchnorm {} is an option of the native network: a TorchScript model "
                                  "(--source.torchscript) normalises as its module defines (per rank); leave it at "
                                  "batch",
                                  model.batchnorm));
    if (!backbone_weights.empty()) {
      if (!weights.empty() || !torchscript.empty())
        throw UserError("--source.backbone_weights starts the native network's training: it does not go with "
                        "--source.weights or --source.torchscript");
      if (model.preset == "small")
        throw UserError("--source.backbone_weights: the small preset has no torchvision counterpart; use "
                        "--model.preset mobilenet_v2 or resnet101");
      if (model.input_norm != "imagenet")
        throw UserError("--source.backbone_weights: ImageNet weights expect ImageNet's input normalisation; add "
                        "--model.input_norm imagenet");
    }
    if (epochs < 1) throw UserError("--source.epochs must be >= 1");
    if (batch_size < 1) throw UserError("--source.batch_size must be >= 1");
    if (!(lr > 0)) throw UserError("--source.lr must be > 0");
    std::vector<std::string> usable;
    for (const auto& m : adaptation_methods())
      if (trains_on_source_labels(*m)) usable.push_back(m->name());
    if (std::find(usable.begin(), usable.end(), method) == usable.end())
      throw UserError(fmt::format("--source.method '{}' cannot train on source labels (expected one of {})", method,
                                  fmt::join(usable, ", ")));
    if (affinity_grid.height < 1 || affinity_grid.width < 1) throw UserError("--source.affinity_grid must be >= 1x1");
  }
};

// Held-out source images, when the source dataset has a test split.
bool has_source_test(const StageContext& ctx, const SourceStageOptions& o) {
  return std::filesystem::exists(o.data.source_root(ctx.workdir()) / "test.txt");
}

class SourceStage : public StageWith<SourceStageOptions> {
 public:
  std::string name() const override { return "source"; }
  bool runs_on_every_rank() const override { return true; }
  std::string summary() const override { return "train the source model (or import its weights)"; }
  bool per_round() const override { return false; }

 protected:
  bool trains(const SourceStageOptions& o) const override { return o.weights.empty() && o.torchscript.empty(); }
  std::vector<StageKey> input_keys(const StageContext& ctx, const SourceStageOptions&, int) const override {
    return with_data_input(ctx, {});
  }

  void check_context(const StageContext& ctx, const SourceStageOptions& o) const override {
    check_precision(o.bfloat16, ctx.run().device);
    if (o.weights.empty() && o.torchscript.empty() && o.data.source.empty() && !o.data.synthetic())
      throw UserError("no source data to train the source model on: give --data.source, or import the source model "
                      "(--source.torchscript FILE.pt or --source.weights FILE.h5)");
  }
  std::vector<DatasetRead> splits_read(const StageContext& ctx, const SourceStageOptions& o, int) const override {
    std::vector<DatasetRead> reads;
    if (o.weights.empty() && o.torchscript.empty()) reads.push_back(source_read(ctx, o.data, "train"));
    if (has_source_test(ctx, o)) reads.push_back(source_read(ctx, o.data, "test"));
    return reads;
  }
  std::vector<std::filesystem::path> files_read(const StageContext& ctx, const SourceStageOptions& o,
                                                int) const override {
    std::vector<std::filesystem::path> files = {o.data.target_root(ctx.workdir()) / "info.json"};  // the class count
    if (!o.weights.empty()) files.emplace_back(o.weights);
    if (!o.torchscript.empty()) files.emplace_back(o.torchscript);
    if (!o.backbone_weights.empty()) files.emplace_back(o.backbone_weights);
    return files;
  }

  Metrics compute(const StageContext& ctx, const SourceStageOptions& o, int, const std::string& fingerprint,
                  H5Writer& out) const override {
    const int k = target_num_classes(ctx, o.data);
    const auto& execution = ctx.execution();
    // Cross-entropy on both heads (or the reference's stage 1: affinity + DAR), the auxiliary
    // weighted by the reference's lambda = 0.1; SGD with the reference's momentum and weight decay
    // (TrainerOptions' defaults). An imported model is read out as it comes (softmax).
    const AdaptationMethod& method = adaptation_method(o.method);
    Metrics metrics;
    InferenceMode inference;  // softmax
    std::shared_ptr<SegmentationModel> model;
    if (!o.torchscript.empty()) {
      model = std::make_shared<TorchScriptModel>(o.torchscript, o.input, k, o.data.input_size.height,
                                                 o.data.input_size.width);
      log::info("source: imported the TorchScript model {}", o.torchscript);
    } else {
      DeepLab native = build_model(o.model, k, static_cast<uint64_t>(o.seed));
      model = native.ptr();
      if (!o.weights.empty()) {
        H5Reader in(o.weights);
        read_module(in, "model", *native);
        log::info("source: imported weights from {}", o.weights);
      } else {
        if (!o.backbone_weights.empty()) {
          const BackboneWeightsImport imported = load_torchvision_backbone(*native, o.backbone_weights);
          log::info("source: backbone from {} ({} tensors; {} of the file's not used, e.g. {})", o.backbone_weights,
                    imported.copied, imported.ignored.size(),
                    imported.ignored.empty() ? std::string("none") : imported.ignored.front());
        }
        auto train = open_source(ctx, o.data, "train");
        if (train.num_classes() != k)
          throw UserError(fmt::format("source dataset has {} classes, target {}", train.num_classes(), k));
        std::vector<torch::Tensor> labels;
        for (size_t i = 0; i < train.size(); ++i) labels.push_back(train.get(i).label);
        SegmentationLoss loss = method.loss(k, o.loss(), MethodSettings());
        inference = method.readout(o.loss());
        TrainerOptions t;
        t.epochs = o.epochs;
        t.batch_size = o.batch_size;
        t.lr = o.lr;
        t.seed = static_cast<uint64_t>(o.seed);
        t.bfloat16 = o.bfloat16;
        t.label = "source";
        t.checkpoint = ctx.checkpoint_path({"source", 0});
        t.checkpoint_key = fingerprint;
        auto result = train_model(*model, *loss, nullptr, train, torch::stack(labels), torch::full({k}, 1.0 / k), t,
                                  execution);
        metrics[metric::final_loss] = result.epochs.back().loss;
        if (execution.is_writer()) std::filesystem::remove(t.checkpoint);  // rank 0's file
      }
    }
    model->move_to(execution.device());
    // The source model on held-out source images: how well it learned its own domain.
    if (has_source_test(ctx, o)) {
      auto test = open_source(ctx, o.data, "test");
      metrics["source_test_mjac"] = evaluate_model(*model, test, inference, execution, "source test").mean_jaccard;
    }
    StoredModel::write(out, *model, inference);
    return metrics;
  }
};

}  // namespace

std::unique_ptr<Stage> make_source_stage() { return std::make_unique<SourceStage>(); }

}  // namespace jcas
