#include "stages/dataset_options.h"

#include "adapters/foundation/error.h"

namespace jcas {
namespace {

void check_split(const std::string& name, const char* key) {
  if (name.empty() || name.find('/') != std::string::npos)
    throw UserError(fmt::format("--data.{}: a split name without '/', got '{}'", key, name));
}

DatasetOptions dataset_options(const DataOptions& d, const std::filesystem::path& root) {
  DatasetOptions o;
  o.root = root.string();
  o.image_dir = d.image_dir;
  o.label_dir = d.label_dir;
  o.image_ext = d.image_ext;
  o.label_ext = d.label_ext;
  o.input_h = d.input_size.height;
  o.input_w = d.input_size.width;
  return o;
}

}  // namespace

void DataOptions::bind(OptionBinder& b) {
  b.bind("source", &source, "labelled source dataset folder (empty: synthetic data in WORKDIR/data/source)");
  b.bind("target", &target, "target dataset folder (empty: synthetic data in WORKDIR/data/target)");
  b.bind("image_dir", &image_dir, "image folder inside a dataset");
  b.bind("label_dir", &label_dir, "label folder inside a dataset (EndoVis18 reference copy: part/part_lbl)");
  b.bind("image_ext", &image_ext, "image file extension (jpg for Kvasir-SEG-style datasets)");
  b.bind("label_ext", &label_ext, "label file extension (class-id masks; lossless, so png)");
  b.bind("input_size", &input_size, "network input HxW (images resized bicubic, labels nearest)");
}

void DataOptions::check() const {
  check_file_extension(image_ext, "--data.image_ext");
  check_file_extension(label_ext, "--data.label_ext");
}

std::filesystem::path DataOptions::source_root(const std::filesystem::path& workdir) const {
  return source.empty() ? workdir / "data" / "source" : std::filesystem::path(source);
}

std::filesystem::path DataOptions::target_root(const std::filesystem::path& workdir) const {
  return target.empty() ? workdir / "data" / "target" : std::filesystem::path(target);
}

void TrainSplit::bind(OptionBinder& b) {
  b.bind("train_split", &name, "target split that is pseudo-labelled and retrained on");
}
void TrainSplit::check() const { check_split(name, "train_split"); }

void ValSplit::bind(OptionBinder& b) {
  b.bind("val_split", &name, "labelled target split for --retrain.select val (never the test split)");
}
void ValSplit::check() const { check_split(name, "val_split"); }

void TestSplit::bind(OptionBinder& b) { b.bind("test_split", &name, "target split the models are evaluated on"); }
void TestSplit::check() const { check_split(name, "test_split"); }

DatasetRead source_read(const StageContext& ctx, const DataOptions& data, const std::string& split) {
  return {dataset_options(data, data.source_root(ctx.workdir())), split, true};
}

DatasetRead target_read(const StageContext& ctx, const DataOptions& data, const std::string& split, bool with_labels) {
  return {dataset_options(data, data.target_root(ctx.workdir())), split, with_labels};
}

SegmentationDataset open_source(const StageContext& ctx, const DataOptions& data, const std::string& split) {
  return SegmentationDataset(dataset_options(data, data.source_root(ctx.workdir())), split, true);
}

SegmentationDataset open_target(const StageContext& ctx, const DataOptions& data, const std::string& split,
                                bool with_labels) {
  return SegmentationDataset(dataset_options(data, data.target_root(ctx.workdir())), split, with_labels);
}

bool target_has_labels(const StageContext& ctx, const DataOptions& data) {
  return std::filesystem::is_directory(data.target_root(ctx.workdir()) / data.label_dir);
}

bool split_has_labels(const StageContext& ctx, const DataOptions& data, const std::string& split) {
  if (data.synthetic()) return true;
  if (!target_has_labels(ctx, data)) return false;
  const auto root = data.target_root(ctx.workdir());
  try {
    for (const auto& name : read_split_list(root.string(), split))
      if (!std::filesystem::is_regular_file(dataset_options(data, root).label_file(name))) return false;
  } catch (const UserError&) {
    return false;  // no list: the checks before running name the missing file
  }
  return true;
}

int target_num_classes(const StageContext& ctx, const DataOptions& data) {
  return read_dataset_info(data.target_root(ctx.workdir()).string()).num_classes;
}

std::vector<StageKey> with_data_input(const StageContext& ctx, std::vector<StageKey> inputs) {
  if (ctx.values().get<DataOptions>("data").synthetic()) inputs.insert(inputs.begin(), StageKey{"data", 0});
  return inputs;
}

}  // namespace jcas
