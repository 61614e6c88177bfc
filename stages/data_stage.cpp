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
  SynthOptions synth;  // the counts, size and shift of `jcas synth`, with its defaults and checks
  int64_t seed = 0;

  void bind(OptionBinder& b) {
    OptionBinder s = b.section("synth");
    synth.bind(s, '_');
    bind_seed(b, &seed);
  }
  void check() const {
    synth.check();
    check_seed(seed);
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
    SynthOptions synth = o.synth;
    synth.seed = static_cast<uint64_t>(o.seed);
    // Generated beside the final folder and renamed, so a stop never leaves a partial dataset.
    const fs::path final_dir = ctx.workdir() / "data";
    TemporaryPath tmp(final_dir);
    synth.out = tmp.path().string();
    generate_synthetic_dataset(synth);
    tmp.commit();
    log::info("synthetic data in {}", final_dir.string());
    out.write("counts", torch::tensor({o.synth.source_train, o.synth.target_train, o.synth.target_val, o.synth.target_test},
                                        torch::kInt64),
              "source_train,target_train,target_val,target_test");
    out.attr("/", "root", final_dir.string());
    return {{"target_train_images", o.synth.target_train}};
  }
};

}  // namespace

std::unique_ptr<Stage> make_data_stage() { return std::make_unique<DataStage>(); }

}  // namespace jcas
