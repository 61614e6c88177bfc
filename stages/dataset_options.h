#pragma once
// The [data] options: which datasets the pipeline reads and how, and the splits it uses.
#include <filesystem>
#include <string>
#include <vector>

#include "adapters/foundation/option_binder.h"
#include "adapters/io/dataset_check.h"
#include "adapters/io/segmentation_dataset.h"
#include "pipeline/runner/stage.h"

namespace jcas {

struct DataOptions {
  std::string source;  // empty: synthetic data in WORKDIR/data/source
  std::string target;  // empty: synthetic data in WORKDIR/data/target
  std::string image_dir = "img";
  std::string label_dir = "label";
  std::string image_ext = "png";
  std::string label_ext = "png";
  ImageSize input_size{128, 160};

  void bind(OptionBinder& b);  // keys relative to [data]
  void check() const;
  // The embedded data is generated when no target is given (a given target with no source is the
  // source-free case: an imported model needs no source data).
  bool synthetic() const { return target.empty(); }
  std::filesystem::path source_root(const std::filesystem::path& workdir) const;
  std::filesystem::path target_root(const std::filesystem::path& workdir) const;
};

// The target splits, each bound by the stages that read it (so a change of the test split does not
// make retraining stale). Keys relative to [data].
struct TrainSplit {
  std::string name = "train";
  void bind(OptionBinder& b);
  void check() const;
};
struct ValSplit {
  std::string name = "val";
  void bind(OptionBinder& b);
  void check() const;
};
struct TestSplit {
  std::string name = "test";
  void bind(OptionBinder& b);
  void check() const;
};

// What a stage reads of the source or target dataset (its contents enter the stage's fingerprint).
DatasetRead source_read(const StageContext& ctx, const DataOptions& data, const std::string& split);
DatasetRead target_read(const StageContext& ctx, const DataOptions& data, const std::string& split, bool with_labels);

// Source or target dataset of the pipeline at the configured input size.
SegmentationDataset open_source(const StageContext& ctx, const DataOptions& data, const std::string& split);
SegmentationDataset open_target(const StageContext& ctx, const DataOptions& data, const std::string& split,
                                bool with_labels);
// Whether the target dataset ships ground truth (the embedded data does; real SFDA data may not):
// the label folder exists.
bool target_has_labels(const StageContext& ctx, const DataOptions& data);
// Whether every image of a target split has its label (a target may be labelled for some splits
// only, e.g. a labelled test split). Generated data always has labels.
bool split_has_labels(const StageContext& ctx, const DataOptions& data, const std::string& split);
// Class count of the target dataset (the model's K).
int target_num_classes(const StageContext& ctx, const DataOptions& data);
// `inputs` plus the data stage when the pipeline generates its data (plan membership reads the
// run's values: whether the data is synthetic does not change a stage's result).
std::vector<StageKey> with_data_input(const StageContext& ctx, std::vector<StageKey> inputs);

}  // namespace jcas
