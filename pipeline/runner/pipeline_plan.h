#pragma once
// The stages of a pipeline over R rounds, each a cached job with the fingerprint its result must
// carry, and the runner that brings results up to date (run what is missing or stale, skip what is
// cached).
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "pipeline/cache/cached_job.h"
#include "pipeline/runner/stage.h"

namespace jcas {

struct PlannedStage {
  StageKey key;
  const Stage* stage = nullptr;
  std::unique_ptr<BoundOptionsBase> options;  // bound once; the fingerprint hashes these
  std::vector<StageKey> inputs;
  // Recorded inputs and fingerprint: the input stages' fingerprints and the digests of the files
  // it reads (set by PipelinePlan::refresh(), as files change while a run proceeds).
  CachedJob job;  // path, fingerprint, recorded options and inputs; compute runs the stage
  const std::string& fingerprint() const { return job.fingerprint; }
  const std::filesystem::path& path() const { return job.path; }
};

class PipelinePlan {
 public:
  // Binds and validates every stage's options before anything runs (UserError naming a bad one).
  PipelinePlan(const StageContext& ctx, const std::vector<std::unique_ptr<Stage>>& stages);
  const std::vector<std::unique_ptr<PlannedStage>>& stages() const { return planned_; }
  const PlannedStage* find(const StageKey& key) const;
  CacheStatus status(const PlannedStage& planned) const { return cache_status(planned.job); }
  const StageContext& context() const { return ctx_; }
  // Recomputes every fingerprint from the options, the inputs and the current contents of the
  // files the stages read (a stage that just ran, or a user's edit, changes them).
  void refresh() const;
  // Checks every dataset split the plan reads (UserError naming the first bad file).
  void validate_reads() const;
  // The stages left out of this pipeline, with why.
  const std::vector<std::pair<std::string, std::string>>& skipped() const { return skipped_; }

 private:
  const StageContext& ctx_;
  std::vector<std::unique_ptr<PlannedStage>> planned_;
  std::vector<std::pair<std::string, std::string>> skipped_;
};

class PipelineRunner {
 public:
  explicit PipelineRunner(const PipelinePlan& plan) : plan_(plan) {}
  // Runs every stage that is missing or stale, and those named in `force` ("retrain" = every
  // round, "retrain[1]" = one). Returns the number of stages run.
  int run_all(const std::set<std::string>& force = {});
  // Runs one stage; its inputs must be up to date, otherwise a UserError names the stage to run first.
  void run_one(const StageKey& key);
  // Runs `key` unless it is cached (for clients that need a few stages, e.g. the ablation).
  void ensure(const StageKey& key);

 private:
  // Runs the stage's job and refreshes the plan; returns the stage's seconds.
  double execute(const PlannedStage& planned);
  // `decision` as rank 0 took it, on every rank of a data-parallel run.
  bool writer_decides(bool decision) const;
  // Before the first stage that reads a dataset computes anything: every split is checked.
  void validate_once(const PlannedStage& next);
  const PipelinePlan& plan_;
  bool validated_ = false;
};

}  // namespace jcas
