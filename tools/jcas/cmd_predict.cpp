// `jcas predict`: segments a folder of images with the source model or a round's model, with the
// preprocessing of training (resize to the input size, the model's input convention) and the
// model's own read-out (softmax or DAR). Class-id PNGs at each image's size keep the names and
// sub-folders; --probabilities also writes what inference gave, at the input size, in HDF5.
#include <fmt/format.h>

#include <filesystem>
#include <map>

#include "adapters/foundation/error.h"
#include "adapters/foundation/log.h"
#include "adapters/foundation/temporary_path.h"
#include "adapters/io/h5_store.h"
#include "adapters/io/label_files.h"
#include "stages/dataset_options.h"
#include "pipeline/training/inference.h"
#include "tools/jcas/commands.h"
#include "tools/jcas/pipeline_session.h"

namespace fs = std::filesystem;

namespace jcas::commands {
namespace {

// "seq_1/frame000.jpg" -> "seq_1/frame000.png"; two images that would share an output are an error.
std::vector<fs::path> output_names(const std::vector<std::string>& images, const std::string& folder) {
  std::vector<fs::path> out;
  std::map<fs::path, std::string> seen;
  for (const auto& name : images) {
    out.push_back(fs::path(name).replace_extension(".png"));
    auto [it, fresh] = seen.emplace(out.back(), name);
    if (!fresh)
      throw UserError(fmt::format("'{}' and '{}' in '{}' would both be predicted as '{}': rename one", it->second,
                                  name, folder, out.back().string()));
  }
  return out;
}

}  // namespace

int predict(const Args& args) {
  po::options_description desc("predict");
  desc.add_options()("images", po::value<std::string>(), "folder of images to segment (png/jpg/bmp/tif, sub-folders too)")(
      "out", po::value<std::string>(), "folder for the class-id PNGs (must not exist unless --overwrite)")(
      "probabilities", po::bool_switch(),
      "also write OUT/probabilities.h5: probabilities N x K x H x W at the input size (the model's read-out) and the "
      "main head's logits, names in the attribute 'images'")(
      "color", po::bool_switch(), "also write colourised labels to OUT_color/")(
      "overwrite", po::bool_switch(), "replace an existing output folder");
  PipelineSession::add_model_option(desc);
  auto session = PipelineSession::open("predict", "Segment a folder of images with the source model or a round's model.",
                                       desc, args, WorkdirAccess::read, {"images"});
  if (!session) return 0;
  const auto& vm = session->values;
  const std::string folder = require<std::string>(vm, "images");
  const fs::path out_dir = require<std::string>(vm, "out");
  const bool overwrite = vm["overwrite"].as<bool>(), color = vm["color"].as<bool>();
  const fs::path color_dir = out_dir.string() + "_color";
  for (const auto& dir : {out_dir, color_dir})
    if (fs::exists(dir) && !overwrite && (dir == out_dir || color))
      throw UserError(fmt::format("--out: '{}' exists; give --overwrite to replace it", dir.string()));

  fs::create_directories(out_dir.parent_path().empty() ? "." : out_dir.parent_path());
  const ChosenModel model = session->chosen_model();
  const auto data = session->context->values().get<DataOptions>("data");
  DatasetOptions images;
  images.root = folder;
  images.image_dir = "";
  images.image_ext = "";  // the names carry their extensions
  images.input_h = data.input_size.height;
  images.input_w = data.input_size.width;
  DatasetInfo info;
  info.num_classes = model.stored.net->num_classes();
  const auto names = image_files_in(folder);
  const auto outputs = output_names(names, folder);
  SegmentationDataset dataset(images, names, info);
  log::info("predicting {} image(s) of {} with {}", names.size(), folder, model.description());

  TemporaryPath ids(out_dir), colour(color_dir);
  std::vector<torch::Tensor> probabilities, logits;
  const bool keep = vm["probabilities"].as<bool>();
  predict_images(*model.stored.net, dataset, model.stored.inference, session->context->execution(), "predict",
                 [&](size_t i, const Sample&, const ImagePrediction& p) {
                   if (keep) {
                     probabilities.push_back(p.probabilities);
                     logits.push_back(p.logits);
                   }
                   write_label_files(p.probabilities.argmax(0).to(torch::kUInt8), dataset.image_path(i),
                                     ids.path() / outputs[i], color ? colour.path() / outputs[i] : fs::path());
                 });
  if (keep) {
    H5Writer h5(ids.path() / "probabilities.h5");
    h5.write("probabilities", torch::stack(probabilities), "image,class,y,x");
    h5.write("logits", torch::stack(logits), "image,class,y,x");
    h5.attr("/", "images", fmt::format("{}", fmt::join(names, "\n")));
    h5.attr("/", "model", model.producer.label());
    h5.attr("/", "readout", model.stored.inference.readout());
    h5.commit();
  }
  ids.commit();  // replaces an existing folder as a whole (--overwrite)
  if (color) colour.commit();
  log::info("wrote {} label(s) to {}{}", names.size(), out_dir.string(), color ? fmt::format(" and {}", color_dir.string()) : "");
  return 0;
}

}  // namespace jcas::commands
