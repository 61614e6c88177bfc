#include "stages/inference.h"

#include <fmt/format.h>

#include "adapters/foundation/interrupt.h"
#include "adapters/foundation/progress.h"

namespace jcas {

namespace {

ModelOutput forward_no_grad(SegmentationModel& model, const torch::Tensor& images) {
  torch::NoGradGuard no_grad;
  return model.forward(images);
}

torch::Tensor probabilities_of(const ModelOutput& out, const torch::Tensor& images, const InferenceMode& mode) {
  torch::NoGradGuard no_grad;
  return predict_probabilities(out.feat2, out.pred2, static_cast<int>(images.size(2)), static_cast<int>(images.size(3)),
                               mode);
}

}  // namespace

torch::Tensor predict_batch(SegmentationModel& model, const torch::Tensor& images, const InferenceMode& mode) {
  return probabilities_of(forward_no_grad(model, images), images, mode);
}

void predict_images(SegmentationModel& model, const SegmentationDataset& dataset, const InferenceMode& mode,
                    torch::Device device, const std::string& label,
                    const std::function<void(size_t, const Sample&, const ImagePrediction&)>& visit) {
  model.set_training(false);
  const size_t batch = 4;
  ProgressBar bar(label, static_cast<int64_t>(dataset.size()), "img");
  for (size_t start = 0; start < dataset.size(); start += batch) {
    std::vector<Sample> samples;
    std::vector<torch::Tensor> xs;
    for (size_t i = start; i < std::min(dataset.size(), start + batch); ++i) {
      samples.push_back(dataset.get(i));
      xs.push_back(samples.back().image);
    }
    const auto images = torch::stack(xs).to(device);
    const ModelOutput out = forward_no_grad(model, images);
    const auto probs = probabilities_of(out, images, mode).to(torch::kCPU);
    const auto logits = out.pred2.to(torch::kCPU);
    for (size_t k = 0; k < xs.size(); ++k) {
      const auto b = static_cast<int64_t>(k);
      visit(start + k, samples[k], ImagePrediction{probs[b], logits[b]});
    }
    bar.advance(static_cast<int64_t>(xs.size()));
    check_interrupted();
  }
  bar.finish();
}

void predict_dataset(SegmentationModel& model, const SegmentationDataset& dataset, const InferenceMode& mode,
                     torch::Device device, const std::string& label,
                     const std::function<void(size_t, const Sample&, const torch::Tensor&)>& visit) {
  predict_images(model, dataset, mode, device, label,
                 [&](size_t i, const Sample& sample, const ImagePrediction& p) { visit(i, sample, p.probabilities); });
}

SegmentationReport evaluate_model(SegmentationModel& model, const SegmentationDataset& dataset, const InferenceMode& mode,
                                  torch::Device device, const std::string& label) {
  SegmentationScore score(dataset.num_classes());
  predict_dataset(model, dataset, mode, device, label, [&](size_t, const Sample& sample, const torch::Tensor& probs) {
    score.add(sample.label, probs.argmax(0).to(torch::kUInt8));
  });
  return score.report();
}

}  // namespace jcas
