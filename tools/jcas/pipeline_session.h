#pragma once
// What the pipeline commands share: the pipeline options (declared from the option schema of the
// stages) parsed from the command line and config, the work directory context, the stages and
// their plan. A command that writes the work directory holds its lock and logs to WORKDIR/jcas.log.
#include <memory>
#include <string>
#include <vector>

#include "adapters/foundation/options.h"
#include "pipeline/runner/option_schema.h"
#include "pipeline/runner/pipeline_plan.h"
#include "pipeline/runner/workdir_lock.h"

namespace jcas {

enum class WorkdirAccess { read, write };

struct PipelineSession {
  // Declares the pipeline options plus `extra` (and --wait for writers), parses `args`; nullptr
  // when --help was printed. `file_section`: the INI section of `extra`'s plain-named options (see
  // parse_options). A writer takes the work directory's lock before the plan is made.
  static std::unique_ptr<PipelineSession> open(const std::string& command, const std::string& summary,
                                               const po::options_description& extra,
                                               const std::vector<std::string>& args, WorkdirAccess access,
                                               const std::vector<std::string>& positional = {},
                                               const std::string& file_section = "");
  po::variables_map values;
  std::vector<std::unique_ptr<Stage>> stages;
  std::unique_ptr<OptionSchema> schema;
  std::unique_ptr<WorkdirLock> lock;
  std::unique_ptr<StageContext> context;
  std::unique_ptr<PipelinePlan> plan;
};

}  // namespace jcas
