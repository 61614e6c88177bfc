#include "pipeline/model/model_kinds.h"

#include <fmt/format.h>

#include "adapters/foundation/error.h"
#include "pipeline/model/deeplab.h"
#include "pipeline/model/torchscript_model.h"

namespace jcas {
namespace {

using Factory = std::shared_ptr<SegmentationModel> (*)(const ModelDescription&, const OptionValues&, int,
                                                       const std::string&);

std::shared_ptr<SegmentationModel> deeplab(const ModelDescription&, const OptionValues& values, int k,
                                           const std::string&) {
  ModelOptions options = values.get<ModelOptions>();
  options.num_classes = k;
  return std::make_shared<DeepLabImpl>(options);
}

std::shared_ptr<SegmentationModel> torchscript(const ModelDescription& d, const OptionValues& values, int k,
                                               const std::string& what) {
  const auto checked = values.all().find("checked_size");
  const ImageSize size =
      parse_image_size(checked == values.all().end() ? "64x64" : checked->second, what + " checked_size");
  return std::make_shared<TorchScriptModel>(d.program, what, values.get<InputConvention>(), k, size.height,
                                            size.width);
}

const std::vector<std::pair<std::string, Factory>>& kinds() {
  static const std::vector<std::pair<std::string, Factory>> table = {{"deeplab", deeplab},
                                                                     {"torchscript", torchscript}};
  return table;
}

}  // namespace

std::shared_ptr<SegmentationModel> rebuild_model(const ModelDescription& description, int num_classes,
                                                 const std::string& what) {
  OptionValues values;
  for (const auto& [key, text] : description.architecture) values.set(key, text);
  for (const auto& [kind, factory] : kinds())
    if (kind == description.kind) return factory(description, values, num_classes, what);
  throw UserError(fmt::format("{}: holds a model of kind '{}', which this jcas cannot rebuild (deeplab | torchscript)",
                              what, description.kind));
}

}  // namespace jcas
