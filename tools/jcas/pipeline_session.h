#pragma once
// What the pipeline commands share: the pipeline options (declared from the option schema of the
// stages) parsed from the command line and config, the work directory context, the stages and
// their plan. A command that writes the work directory holds its lock and logs to WORKDIR/jcas.log.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "adapters/foundation/options.h"
#include "pipeline/runner/option_schema.h"
#include "pipeline/runner/pipeline_plan.h"
#include "pipeline/runner/workdir_lock.h"
#include "stages/stage_results.h"

namespace jcas {

// A writer (run, stage) stores the effective configuration as WORKDIR/config.ini; a reader
// (status, compare, export, predict, ...) given no --config reads it from there, so a work directory
// is inspected with the options it was run with. `extend`: a writer that also starts from it
// (stage: the next stage of a work directory runs with the options of the ones before it).
enum class WorkdirAccess { read, write, extend };

// The model a command works with (`--model`, see add_model_option).
struct ChosenModel {
  int round = 0;  // 0 = the source model, r = the model after r rounds
  StageKey producer;
  StoredModel stored;
  std::string description() const;  // "the model after 2 round(s) (retrain[1])"
};

// A pipeline beside a session's: its options with some changed (another work directory, seed).
struct DerivedPipeline {
  std::unique_ptr<StageContext> context;
  std::unique_ptr<PipelinePlan> plan;
};

struct PipelineSession {
  // Declares the pipeline options plus `extra` (and --wait for writers), parses `args`; nullptr
  // when --help was printed. `file_section`: the INI section of `extra`'s plain-named options (see
  // parse_options). Every option is checked, the plan made and `check` (the command's own checks of
  // its options against the plan) run before a writer takes the work directory's lock and writes
  // its log and config.ini: a refused command leaves nothing behind.
  static std::unique_ptr<PipelineSession> open(const std::string& command, const std::string& summary,
                                               const po::options_description& extra,
                                               const std::vector<std::string>& args, WorkdirAccess access,
                                               const std::vector<std::string>& positional = {},
                                               const std::string& file_section = "",
                                               const std::function<void(const PipelineSession&)>& check = {});
  // Declares `--model r` for a command that reads a model of the pipeline.
  static void add_model_option(po::options_description& desc);
  // The model `--model` names (default: the last round's), loaded; UserError when it is out of
  // range or not computed yet.
  ChosenModel chosen_model() const;
  // This session's options with `changes` (key -> value text) applied, over its stages; its
  // effective configuration stored in its work directory (which must differ from this one's).
  DerivedPipeline derive(const std::map<std::string, std::string>& changes) const;

  po::variables_map values;
  std::vector<std::unique_ptr<Stage>> stages;
  std::unique_ptr<OptionSchema> schema;
  std::unique_ptr<WorkdirLock> lock;
  std::unique_ptr<StageContext> context;
  std::unique_ptr<PipelinePlan> plan;
};

}  // namespace jcas
