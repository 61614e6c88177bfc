#include "stages/stage_results.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "adapters/foundation/error.h"
#include "adapters/io/h5_store.h"
#include "pipeline/model/model_io.h"
#include "pipeline/model/model_kinds.h"

namespace jcas {
namespace {

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

}  // namespace

void StoredModel::write(H5Writer& out, SegmentationModel& net, const InferenceMode& inference) {
  net.move_to(torch::kCPU);
  write_state(out, "model", net.state());
  const ModelDescription description = net.describe();
  nlohmann::json arch = {{"num_classes", net.num_classes()}};
  for (const auto& [key, text] : description.architecture) arch[key] = text;
  if (!description.program.empty()) {
    const std::string& bytes = description.program;
    out.write("torchscript", torch::from_blob(const_cast<char*>(bytes.data()), {static_cast<int64_t>(bytes.size())},
                                              torch::kUInt8),
              "the TorchScript module as torch.jit.save wrote it (its weights: model/)");
  }
  out.attr("model", "kind", description.kind);
  out.attr("model", "architecture", arch.dump());
  out.attr("model", "inference", inference.readout());
  out.attr("model", "inference_grid", to_string(ImageSize{inference.grid_h, inference.grid_w}));
  out.attr("model", "inference_impl", enum_name(inference.impl));
}

StoredModel StoredModel::read(const std::filesystem::path& file, c10::Device device) {
  H5Reader in(file);
  if (!in.is_group("model") || !in.has_attr("model", "architecture") || !in.has_attr("model", "kind"))
    throw UserError(fmt::format("{}: holds no model (no 'model' group with its kind and architecture)", file.string()));
  ModelDescription description{in.attr_string("model", "kind"), {}, ""};
  int k = 0;
  try {
    const nlohmann::json arch = nlohmann::json::parse(in.attr_string("model", "architecture"));
    for (const auto& [key, text] : arch.items())
      if (key != "num_classes") description.architecture.emplace_back(key, text.get<std::string>());
    k = arch.value("num_classes", 0);
  } catch (const nlohmann::json::exception& e) {
    throw UserError(fmt::format("{}: unreadable model architecture ({})", file.string(), e.what()));
  }
  if (in.has("torchscript")) {
    auto bytes = in.read("torchscript").contiguous();
    description.program.assign(reinterpret_cast<const char*>(bytes.data_ptr<uint8_t>()),
                               static_cast<size_t>(bytes.numel()));
  }
  StoredModel m;
  m.net = rebuild_model(description, k, file.string());
  read_state(in, "model", m.net->state());
  m.net->move_to(device);
  m.net->set_training(false);
  const std::string mode = in.attr_string("model", "inference");
  if (!m.inference.set_readout(mode))
    throw UserError(fmt::format("{}: unknown model readout '{}' (softmax | dar | dar_affinity)", file.string(), mode));
  ImageSize grid = parse_image_size(in.attr_string("model", "inference_grid"), file.string() + " inference_grid");
  m.inference.grid_h = grid.height;
  m.inference.grid_w = grid.width;
  m.inference.impl = parse_enum<AffinityImpl>(in.attr_string("model", "inference_impl"), "inference_impl");
  return m;
}

void PseudoLabels::write(H5Writer& out) const {
  out.write("labels", labels, "image,y,x; class id");
  out.write("confidence", confidence, "image,y,x; max probability * 255");
  out.write("probabilities", probabilities, fmt::format("image,class,y,x; mean over {0}x{0} blocks", prob_stride));
  out.write("sizes", torch::tensor({labels.size(1), labels.size(2)}, torch::kInt64), "height,width");
  out.attr("/", "images", fmt::format("{}", fmt::join(images, "\n")));
  out.attr("/", "prob_stride", prob_stride);
  out.attr("/", "model", model);
}

PseudoLabels PseudoLabels::read(const std::filesystem::path& file) {
  H5Reader in(file);
  PseudoLabels p;
  p.labels = in.read("labels");
  p.confidence = in.read("confidence");
  p.probabilities = in.read("probabilities");
  p.prob_stride = in.attr_int("/", "prob_stride");
  p.images = split_lines(in.attr_string("/", "images"));
  p.model = in.attr_string("/", "model");
  return p;
}

torch::Tensor PseudoLabels::at_prob_resolution(const torch::Tensor& maps) const {
  using torch::indexing::None;
  using torch::indexing::Slice;
  const int64_t s = prob_stride;
  return maps.index({Slice(), Slice(s / 2, None, s), Slice(s / 2, None, s)})
      .index({Slice(), Slice(0, probabilities.size(2)), Slice(0, probabilities.size(3))});
}

void NtmEstimate::write(H5Writer& out) const {
  out.write("class_ntm", class_ntm, "clean class, noisy class; rows sum to 1");
  out.write("class_dist", class_dist, "class; fraction of pseudo-labelled pixels");
  out.attr("/", "estimator", estimator);
  if (true_class_ntm.defined()) {
    out.write("true_class_ntm", true_class_ntm, "clean class, pseudo-label class; rows sum to 1");
    out.write("true_affinity_ntm", true_affinity_ntm, "clean pair (0 dissimilar, 1 similar), pseudo-label pair");
    out.write("true_class_dist", true_class_dist, "class; fraction of ground-truth pixels");
  }
  for (const auto& [name, t] : estimates) out.write("estimates/" + name, t, "clean class, noisy class");
}

NtmEstimate NtmEstimate::read(const std::filesystem::path& file) {
  H5Reader in(file);
  NtmEstimate e;
  e.estimator = in.attr_string("/", "estimator");
  e.class_ntm = in.read("class_ntm");
  e.class_dist = in.read("class_dist");
  if (in.has("true_class_ntm")) {
    e.true_class_ntm = in.read("true_class_ntm");
    e.true_affinity_ntm = in.read("true_affinity_ntm");
    e.true_class_dist = in.read("true_class_dist");
  }
  if (in.is_group("estimates"))
    for (const auto& name : in.list("estimates")) e.estimates[name] = in.read("estimates/" + name);
  return e;
}

void AffinityDerivation::write(H5Writer& out) const {
  out.write("affinity_ntm", affinity_ntm, "clean pair (0 dissimilar, 1 similar), noisy pair; rows sum to 1");
  out.write("class_ntm", class_ntm, "the T_C it was derived from");
  out.write("class_dist", class_dist, "the class distribution it was derived from");
}

AffinityDerivation AffinityDerivation::read(const std::filesystem::path& file) {
  H5Reader in(file);
  return {in.read("affinity_ntm"), in.read("class_ntm"), in.read("class_dist")};
}

void RetrainOutcome::write(H5Writer& out) const {
  if (learned_class_ntm.defined())
    out.write("learned_class_ntm", learned_class_ntm, "clean class, noisy class (end of retraining)");
  if (learned_affinity_ntm.defined())
    out.write("learned_affinity_ntm", learned_affinity_ntm, "clean pair, noisy pair (end of retraining)");
  out.write("epoch_loss", epoch_loss, "epoch; mean total loss");
  out.attr("/", "selected_epoch", selected_epoch);
  out.attr("/", "selection", selection);
  out.attr("/", "resumed_from_epoch", resumed_from_epoch);
  out.attr("/", "kept_labels", kept);
}

RetrainOutcome RetrainOutcome::read(const std::filesystem::path& file) {
  H5Reader in(file);
  RetrainOutcome r;
  if (in.has("learned_class_ntm")) r.learned_class_ntm = in.read("learned_class_ntm");
  if (in.has("learned_affinity_ntm")) r.learned_affinity_ntm = in.read("learned_affinity_ntm");
  r.epoch_loss = in.read("epoch_loss");
  r.selected_epoch = in.attr_int("/", "selected_epoch");
  r.selection = in.attr_string("/", "selection");
  r.resumed_from_epoch = in.attr_int("/", "resumed_from_epoch");
  r.kept = in.attr_double("/", "kept_labels");
  return r;
}

}  // namespace jcas
