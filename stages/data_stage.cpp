// Generates the embedded synthetic source/target datasets into WORKDIR/data.
#include <fmt/format.h>

#include <filesystem>

#include "adapters/io/h5_store.h"
#include "data/synthetic_endoscopy.h"
#include "adapters/foundation/error.h"
#include "adapters/foundation/log.h"
#include "stages/pipeline_stages.h"

namespace jcas {
namespace {

namespace fs = std::filesystem;

struct DataStageOptions {
  SynthOptions synth;
  static DataStageOptions from(const PipelineConfig& c) {
    DataStageOptions o;
    o.synth.seed = static_cast<uint64_t>(c.integer("seed"));
    o.synth.source_train = c.integer("synth.source_train");
    o.synth.target_train = c.integer("synth.target_train");
    o.synth.target_val = c.integer("synth.target_val");
    o.synth.target_test = c.integer("synth.target_test");
    std::tie(o.synth.height, o.synth.width) = c.size("synth.size");
    return o;
  }
};

class DataStage : public Stage {
 public:
  std::string name() const override { return "data"; }
  std::string summary() const override { return "generate the synthetic endoscopy datasets"; }
  bool per_round() const override { return false; }
  bool enabled(const StageContext& ctx) const override { return ctx.uses_synthetic_data(); }
  std::vector<std::string> option_keys(int) const override { return {"synth.", "seed"}; }
  std::vector<StageKey> inputs(const StageContext&, int) const override { return {}; }
  void validate(const StageContext& ctx) const override {
    auto o = DataStageOptions::from(ctx.config());
    if (o.synth.source_train < 1 || o.synth.target_train < 1 || o.synth.target_val < 0 || o.synth.target_test < 1)
      throw UserError("--synth.*: image counts must be >= 1 (target_val >= 0)");
  }

  std::map<std::string, double> run(const StageContext& ctx, int, const std::string&, H5Writer& out) const override {
    auto o = DataStageOptions::from(ctx.config());
    // Generated beside the final folder and renamed, so a stop never leaves a partial dataset.
    fs::path final_dir = ctx.workdir() / "data", tmp_dir = ctx.workdir() / "data.tmp";
    fs::remove_all(tmp_dir);
    o.synth.out = tmp_dir.string();
    generate_synthetic_dataset(o.synth);
    fs::remove_all(final_dir);
    fs::rename(tmp_dir, final_dir);
    log::info("synthetic data in {}", final_dir.string());
    out.write("counts", torch::tensor({o.synth.source_train, o.synth.target_train, o.synth.target_val,
                                       o.synth.target_test}, torch::kInt64),
              "source_train,target_train,target_val,target_test");
    out.attr("/", "root", final_dir.string());
    return {{"target_train_images", o.synth.target_train}};
  }
};

}  // namespace

std::unique_ptr<Stage> make_data_stage() { return std::make_unique<DataStage>(); }

}  // namespace jcas
