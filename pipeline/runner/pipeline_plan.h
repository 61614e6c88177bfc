#pragma once
// The stages of a pipeline over R rounds, each with the fingerprint its result must carry, and
// the runner that brings results up to date (run what is missing or stale, skip what is cached).
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "pipeline/runner/stage.h"

namespace jcas {

struct PlannedStage {
  StageKey key;
  const Stage* stage = nullptr;
  std::filesystem::path path;
  std::vector<StageKey> inputs;
  std::string fingerprint;  // expected: hash of name, round, options, inputs' fingerprints, format
  std::string options_json, inputs_json;
};

enum class StageState { done, stale, missing };
const char* state_name(StageState s);

struct StageStatus {
  StageState state = StageState::missing;
  std::string reason;  // why stale: options/inputs changed, unreadable file, ...
  double seconds = 0;
  std::map<std::string, double> metrics;
};

class PipelinePlan {
 public:
  PipelinePlan(const StageContext& ctx, const std::vector<std::unique_ptr<Stage>>& stages);
  const std::vector<PlannedStage>& stages() const { return planned_; }
  const PlannedStage* find(const StageKey& key) const;
  StageStatus status(const PlannedStage& planned) const;
  const StageContext& context() const { return ctx_; }

 private:
  const StageContext& ctx_;
  std::vector<PlannedStage> planned_;
};

class PipelineRunner {
 public:
  explicit PipelineRunner(const PipelinePlan& plan) : plan_(plan) {}
  // Runs every stage that is missing or stale, and those named in `force` ("retrain" = every
  // round, "retrain[1]" = one). Returns the number of stages run.
  int run_all(const std::set<std::string>& force = {});
  // Runs one stage; its inputs must be up to date, otherwise a UserError names the stage to run first.
  void run_one(const StageKey& key);

 private:
  void execute(const PlannedStage& planned);
  const PipelinePlan& plan_;
};

}  // namespace jcas
