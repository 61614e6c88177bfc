#include "stages/inference.h"

#include <fmt/format.h>

#include "adapters/foundation/interrupt.h"
#include "adapters/foundation/progress.h"

namespace jcas {

torch::Tensor predict_batch(SegmentationModel& model, const torch::Tensor& images, const InferenceMode& mode) {
  torch::NoGradGuard no_grad;
  ModelOutput out = model.forward(images);
  return predict_probabilities(out.feat2, out.pred2, static_cast<int>(images.size(2)), static_cast<int>(images.size(3)),
                               mode);
}

void predict_dataset(SegmentationModel& model, const SegmentationDataset& dataset, const InferenceMode& mode,
                     const ExecutionContext& execution, const std::string& label,
                     const std::function<void(size_t, const Sample&, const torch::Tensor&)>& visit) {
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
    return predict_batch(model, torch::stack(xs).to(execution.device()), mode).to(torch::kCPU);
  };
  ProgressBar bar(label, static_cast<int64_t>(n), "img");
  // Batch b (the batches one process forms, so every image's probabilities are bit-identical to
  // one process's) is rank b % W's; each step's W batches are gathered to every rank and visited.
  for (size_t first = 0; first < batches; first += world) {
    std::vector<Sample> mine;
    torch::Tensor probs;
    if (first + rank < batches) {
      mine = samples_of(first + rank);
      probs = predict(mine);
    }
    std::vector<torch::Tensor> step = {probs};
    if (world > 1) {
      const auto size = dataset.get(0).image.sizes();  // every image has the input size
      auto padded = torch::zeros({static_cast<int64_t>(batch), model.num_classes(), size[1], size[2]});
      if (probs.defined()) padded.narrow(0, 0, probs.size(0)).copy_(probs);
      step = execution.all_gather(padded);
    }
    for (size_t r = 0; r < world && first + r < batches; ++r) {
      const size_t b = first + r;
      const std::vector<Sample> samples = r == rank ? std::move(mine) : samples_of(b);
      for (size_t k = 0; k < samples.size(); ++k) visit(b * batch + k, samples[k], step[r][static_cast<int64_t>(k)]);
      bar.advance(static_cast<int64_t>(samples.size()));
    }
    check_interrupted();
  }
  bar.finish();
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
