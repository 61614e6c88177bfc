#pragma once
// A pipeline stage: a small class that names its inputs and the options that affect it, and
// computes one HDF5 result. The runner decides when it runs; the stage only computes.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "pipeline/runner/pipeline_options.h"

namespace jcas {

class H5Writer;
class H5Reader;

struct StageKey {
  std::string name;
  int round = 0;
  std::string label() const;  // "retrain[1]"
  bool operator==(const StageKey& o) const { return name == o.name && round == o.round; }
};

// Where things live in the work directory; shared by the runner and every stage.
class StageContext {
 public:
  StageContext(PipelineConfig config, std::filesystem::path workdir);
  const PipelineConfig& config() const { return config_; }
  const std::filesystem::path& workdir() const { return workdir_; }
  std::filesystem::path result_path(const StageKey& key) const;
  std::filesystem::path checkpoint_path(const StageKey& key) const;
  std::filesystem::path round_dir(int round) const;
  // Dataset folders: the configured ones, or the synthetic data under the work directory.
  std::filesystem::path source_root() const;
  std::filesystem::path target_root() const;
  bool uses_synthetic_data() const;
  std::string device() const;  // "cpu" | "cuda" (validated)

 private:
  PipelineConfig config_;
  std::filesystem::path workdir_;
};

// `inputs` plus the data stage when the pipeline generates its data.
std::vector<StageKey> with_data_input(const StageContext& ctx, std::vector<StageKey> inputs);

class Stage {
 public:
  virtual ~Stage() = default;
  virtual std::string name() const = 0;
  virtual std::string summary() const = 0;
  // Whether the stage is part of this pipeline (the data stage only for synthetic data).
  virtual bool enabled(const StageContext&) const { return true; }
  // Whether the stage runs once per round (false: once, listed under round 0).
  virtual bool per_round() const { return true; }
  // Option keys (or whole sections, "retrain.") whose values change the result of `round`.
  virtual std::vector<std::string> option_keys(int round) const = 0;
  // Throws UserError for a nonsense option value; called for every stage before anything runs.
  virtual void validate(const StageContext&) const {}
  virtual std::vector<StageKey> inputs(const StageContext& ctx, int round) const = 0;
  // Computes the result into `out` and returns its headline figures. The runner adds the record
  // (fingerprint, options, timings) and commits the file. `fingerprint` is the one the result will
  // carry; long stages key their checkpoints with it.
  virtual std::map<std::string, double> run(const StageContext& ctx, int round, const std::string& fingerprint,
                                            H5Writer& out) const = 0;
};

}  // namespace jcas
