#include "pipeline/model/torchvision_weights.h"

#include <fmt/format.h>
#include <torch/serialize.h>

#include <fstream>
#include <map>
#include <regex>

#include "adapters/foundation/error.h"
#include "pipeline/model/deeplab.h"
#include "pipeline/model/inverted_residual_blocks.h"

namespace jcas {
namespace {

// torchvision's name of a native backbone tensor ("backbone.stage3.2.conv1.weight" ->
// "layer3.2.conv1.weight"; "backbone.stage3.2.conv.1.0.weight" -> "features.9.conv.1.0.weight").
std::string torchvision_name(const std::string& preset, const std::string& name) {
  static const std::regex part(R"(backbone\.(stem|stage([1-4]))\.(\d+)\.(.*))");
  std::smatch m;
  if (!std::regex_match(name, m, part)) return "";
  const bool stem = m[1] == "stem";
  const int stage = stem ? 0 : std::stoi(m[2]);
  const int index = std::stoi(m[3]);
  if (preset == "mobilenet_v2")
    return fmt::format("features.{}.{}", kMobileNetV2PartStarts[static_cast<size_t>(stage)] + index, m[4].str());
  if (stem) return (index == 0 ? "conv1." : index == 1 ? "bn1." : "?") + m[4].str();
  return fmt::format("layer{}.{}.{}", stage, index, m[4].str());
}

std::map<std::string, torch::Tensor> read_tensors(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw UserError(fmt::format("cannot open the backbone weights '{}'", file));
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string convert =
      "a plain dict of tensors as tools/python/torchvision_backbone.py writes from torchvision's state_dict";
  c10::IValue value;
  try {
    value = torch::pickle_load(bytes);
  } catch (const std::exception&) {
    throw UserError(fmt::format("'{}' is not {}", file, convert));
  }
  if (!value.isGenericDict()) throw UserError(fmt::format("'{}' is not {}", file, convert));
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& entry : value.toGenericDict()) {
    if (!entry.key().isString() || !entry.value().isTensor())
      throw UserError(fmt::format("'{}' is not {}: it holds a {} under a {} key", file, convert,
                                  entry.value().tagKind(), entry.key().tagKind()));
    tensors.emplace(entry.key().toStringRef(), entry.value().toTensor());
  }
  return tensors;
}

}  // namespace

BackboneWeightsImport load_torchvision_backbone(DeepLabImpl& model, const std::string& file) {
  const std::string& preset = model.options().preset;
  if (preset != "resnet101" && preset != "mobilenet_v2")
    throw UserError(
        fmt::format("--source.backbone_weights: preset '{}' has no torchvision counterpart (resnet101 "
                    "and mobilenet_v2 have)",
                    preset));
  std::map<std::string, torch::Tensor> tensors = read_tensors(file);
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;  // checked in full before anything changes
  BackboneWeightsImport report;
  for (const auto& [name, target] : model.state()) {
    if (name.rfind("backbone.", 0) != 0) continue;
    const std::string source = torchvision_name(preset, name);
    const auto found = tensors.find(source);
    if (found == tensors.end())
      throw UserError(fmt::format("'{}' lacks '{}' (the {} backbone's {}): not torchvision's {} weights", file, source,
                                  preset, name, preset));
    if (found->second.sizes() != target.sizes())
      throw UserError(fmt::format("'{}': '{}' is {}, the {} backbone's {} is {}", file, source,
                                  fmt::join(found->second.sizes(), "x"), preset, name, fmt::join(target.sizes(), "x")));
    copies.emplace_back(target, found->second);
    tensors.erase(found);
  }
  torch::NoGradGuard no_grad;
  for (auto& [target, source] : copies) target.copy_(source);
  report.copied = static_cast<int>(copies.size());
  for (const auto& [name, tensor] : tensors) report.ignored.push_back(name);
  return report;
}

}  // namespace jcas
