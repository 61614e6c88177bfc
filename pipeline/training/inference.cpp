#include "pipeline/training/inference.h"

#include <fmt/format.h>

#include "adapters/foundation/error.h"
#include "adapters/foundation/interrupt.h"
#include "adapters/foundation/progress.h"
#include "pipeline/model/batchnorm_layers.h"

namespace jcas {
namespace {

torch::Tensor cat_defined(const std::vector<torch::Tensor>& parts) {
  return parts.front().defined() ? torch::cat(parts) : torch::Tensor();
}

// The forward pass the read-out asks for: the batch with BatchNorm's running statistics, or each
// image alone with its own statistics (mode.image_statistics).
ModelOutput forward_no_grad(SegmentationModel& model, const torch::Tensor& images, const InferenceMode& mode) {
  torch::NoGradGuard no_grad;
  if (!mode.image_statistics) return model.forward(images);
  BatchStatisticsScope own_statistics(model);
  std::vector<torch::Tensor> feat1, feat2, pred1, pred2;
  for (int64_t i = 0; i < images.size(0); ++i) {
    ModelOutput o;
    try {
      o = model.forward(images.narrow(0, i, 1));
    } catch (const c10::Error& e) {
      throw UserError(fmt::format("the {} read-out normalises each image by its own BatchNorm statistics, and this "
                                  "model cannot (a BatchNorm layer sees one value per channel, e.g. after image "
                                  "pooling): {}",
                                  mode.readout(), e.what_without_backtrace()));
    }
    feat1.push_back(o.feat1);
    feat2.push_back(o.feat2);
    pred1.push_back(o.pred1);
    pred2.push_back(o.pred2);
  }
  ModelOutput out;
  out.feat1 = cat_defined(feat1);
  out.feat2 = cat_defined(feat2);
  out.pred1 = cat_defined(pred1);
  out.pred2 = cat_defined(pred2);
  return out;
}

torch::Tensor probabilities_of(const ModelOutput& out, const torch::Tensor& images, const InferenceMode& mode) {
  torch::NoGradGuard no_grad;
  return predict_probabilities(out.feat2, out.pred2, static_cast<int>(images.size(2)), static_cast<int>(images.size(3)),
                               mode);
}

// `t` (b x ...) zero-padded to `rows` rows, or zeros shaped like `like` when this rank had no batch.
torch::Tensor padded(const torch::Tensor& t, int64_t rows, const torch::Tensor& like) {
  auto sizes = like.sizes().vec();
  sizes[0] = rows;
  auto out = torch::zeros(sizes, like.options());
  if (t.defined()) out.narrow(0, 0, t.size(0)).copy_(t);
  return out;
}

}  // namespace

torch::Tensor predict_batch(SegmentationModel& model, const torch::Tensor& images, const InferenceMode& mode) {
  model.set_training(false);
  return probabilities_of(forward_no_grad(model, images, mode), images, mode);
}

void predict_images(SegmentationModel& model, const SegmentationDataset& dataset, const InferenceMode& mode,
                    const ExecutionContext& execution, const std::string& label,
                    const std::function<void(size_t, const Sample&, const ImagePrediction&)>& visit,
                    bool mirrored_too) {
  model.set_training(false);
  const size_t batch = 4, n = dataset.size(), batches = (n + batch - 1) / batch;
  const auto world = static_cast<size_t>(execution.world_size()), rank = static_cast<size_t>(execution.rank());
  auto samples_of = [&](size_t b) {
    std::vector<Sample> samples;
    for (size_t i = b * batch; i < std::min(n, (b + 1) * batch); ++i) samples.push_back(dataset.get(i));
    return samples;
  };
  auto predict = [&](const std::vector<Sample>& samples) {
    std::vector<torch::Tensor> xs;
    for (const auto& s : samples) xs.push_back(s.image);
    const auto images = torch::stack(xs).to(execution.device());
    const ModelOutput out = forward_no_grad(model, images, mode);
    ImagePrediction p{probabilities_of(out, images, mode).to(torch::kCPU), out.pred2.to(torch::kCPU), {}};
    if (mirrored_too) {
      const auto flipped = images.flip({3});
      p.mirrored = probabilities_of(forward_no_grad(model, flipped, mode), flipped, mode).flip({3}).to(torch::kCPU);
    }
    return p;
  };
  // The output shapes, for the ranks that have no batch in the last step.
  const ImagePrediction shapes = world > 1 ? predict({dataset.get(0)}) : ImagePrediction{};
  ProgressBar bar(label, static_cast<int64_t>(n), "img");
  // Batch b (the batches one process forms, so every image's outputs are bit-identical to one
  // process's) is rank b % W's; each step's W batches are gathered to every rank and visited.
  for (size_t first = 0; first < batches; first += world) {
    std::vector<Sample> mine;
    ImagePrediction out;
    if (first + rank < batches) {
      mine = samples_of(first + rank);
      out = predict(mine);
    }
    std::vector<torch::Tensor> probs = {out.probabilities}, logits = {out.logits}, mirrored = {out.mirrored};
    if (world > 1) {
      const auto rows = static_cast<int64_t>(batch);
      probs = execution.all_gather(padded(out.probabilities, rows, shapes.probabilities));
      logits = execution.all_gather(padded(out.logits, rows, shapes.logits));
      if (mirrored_too) mirrored = execution.all_gather(padded(out.mirrored, rows, shapes.probabilities));
    }
    for (size_t r = 0; r < world && first + r < batches; ++r) {
      const size_t b = first + r;
      const std::vector<Sample> samples = r == rank ? std::move(mine) : samples_of(b);
      for (size_t k = 0; k < samples.size(); ++k) {
        const auto i = static_cast<int64_t>(k);
        visit(b * batch + k, samples[k],
              ImagePrediction{probs[r][i], logits[r][i], mirrored_too ? mirrored[r][i] : torch::Tensor()});
      }
      bar.advance(static_cast<int64_t>(samples.size()));
    }
    check_interrupted();
  }
  bar.finish();
}

void predict_dataset(SegmentationModel& model, const SegmentationDataset& dataset, const InferenceMode& mode,
                     const ExecutionContext& execution, const std::string& label,
                     const std::function<void(size_t, const Sample&, const torch::Tensor&)>& visit) {
  predict_images(model, dataset, mode, execution, label,
                 [&](size_t i, const Sample& sample, const ImagePrediction& p) { visit(i, sample, p.probabilities); });
}

SegmentationReport evaluate_model(SegmentationModel& model, const SegmentationDataset& dataset, const InferenceMode& mode,
                                  const ExecutionContext& execution, const std::string& label) {
  SegmentationScore score(dataset.num_classes());
  auto add = [&](size_t, const Sample& sample, const torch::Tensor& probs) {
    score.add(sample.label, probs.argmax(0).to(torch::kUInt8));
  };
  predict_dataset(model, dataset, mode, execution, label, add);
  return score.report();
}

}  // namespace jcas
