// Generates the embedded synthetic source/target datasets into WORKDIR/data.
#include <fmt/format.h>

#include <filesystem>

#include "adapters/foundation/error.h"
#include "adapters/foundation/log.h"
#include "adapters/foundation/temporary_path.h"
#include "adapters/io/h5_store.h"
#include "data/synthetic_endoscopy.h"
#include "pipeline/execution/run_options.h"
#include "stages/dataset_options.h"
#include "stages/pipeline_stages.h"

namespace jcas {
namespace {

namespace fs = std::filesystem;

struct DataStageOptions {
  int source_train = 160, target_train = 120, target_val = 30, target_test = 60;
  ImageSize size{128, 160};
  double shift = 1.0;
  int64_t seed = 0;

  void bind(OptionBinder& b) {
    OptionBinder s = b.section("synth");
    s.bind("source_train", &source_train, "synthetic source training images");
    s.bind("target_train", &target_train, "synthetic target training images");
    s.bind("target_val", &target_val, "synthetic target validation images");
    s.bind("target_test", &target_test, "synthetic target test images");
    s.bind("size", &size, "synthetic image size HxW");
    s.bind("shift", &shift,
           "strength of the target's domain shift (0..3): 0 = the source style, 1 = the default target, "
           "1.5 = a stronger shift (target + (shift - 1) (target - source), clamped)");
    bind_seed(b, &seed);
  }
  void check() const {
    if (source_train < 1 || target_train < 1 || target_val < 0 || target_test < 1)
      throw UserError("--synth.*: image counts must be >= 1 (target_val >= 0)");
    if (!(shift >= kMinSyntheticShift && shift <= kMaxSyntheticShift))
      throw UserError(fmt::format("--synth.shift {} out of range ({}..{})", shift, kMinSyntheticShift,
                                  kMaxSyntheticShift));
  }
};

class DataStage : public StageWith<DataStageOptions> {
 public:
  std::string name() const override { return "data"; }
  std::string summary() const override { return "generate the synthetic endoscopy datasets"; }
  bool per_round() const override { return false; }

 protected:
  std::string why_skipped(const StageContext& ctx, const DataStageOptions&) const override {
    return ctx.values().get<DataOptions>("data").synthetic() ? "" : "the target dataset is given (--data.target)";
  }
  std::vector<StageKey> input_keys(const StageContext&, const DataStageOptions&, int) const override { return {}; }

  Metrics compute(const StageContext& ctx, const DataStageOptions& o, int, const std::string&,
                  H5Writer& out) const override {
    SynthOptions synth;
    synth.seed = static_cast<uint64_t>(o.seed);
    synth.source_train = o.source_train;
    synth.target_train = o.target_train;
    synth.target_val = o.target_val;
    synth.target_test = o.target_test;
    synth.height = o.size.height;
    synth.width = o.size.width;
    synth.shift = o.shift;
    // Generated beside the final folder and renamed, so a stop never leaves a partial dataset.
    const fs::path final_dir = ctx.workdir() / "data";
    TemporaryPath tmp(final_dir);
    synth.out = tmp.path().string();
    generate_synthetic_dataset(synth);
    tmp.commit();
    log::info("synthetic data in {}", final_dir.string());
    out.write("counts", torch::tensor({o.source_train, o.target_train, o.target_val, o.target_test}, torch::kInt64),
              "source_train,target_train,target_val,target_test");
    out.attr("/", "root", final_dir.string());
    return {{"target_train_images", o.target_train}};
  }
};

}  // namespace

std::unique_ptr<Stage> make_data_stage() { return std::make_unique<DataStage>(); }

}  // namespace jcas
