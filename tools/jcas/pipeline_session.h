#pragma once
// What `run`, `stage` and `status` share: the pipeline options parsed from the command line and
// config, the work directory context, the stages and their plan.
#include <memory>
#include <string>
#include <vector>

#include "adapters/foundation/options.h"
#include "pipeline/runner/pipeline_plan.h"

namespace jcas {

struct PipelineSession {
  // Declares the pipeline options plus `extra`, parses `args`; nullptr when --help was printed.
  // `file_section`: the INI section of `extra`'s plain-named options (see parse_options).
  static std::unique_ptr<PipelineSession> open(const std::string& command, const std::string& summary,
                                               const po::options_description& extra,
                                               const std::vector<std::string>& args,
                                               const std::vector<std::string>& positional = {},
                                               const std::string& file_section = "");
  po::variables_map values;
  std::unique_ptr<StageContext> context;
  std::vector<std::unique_ptr<Stage>> stages;
  std::unique_ptr<PipelinePlan> plan;
};

}  // namespace jcas
