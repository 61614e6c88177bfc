#include <cstdio>

#include "pipeline/runner/status_report.h"
#include "stages/stage_metrics.h"
#include "tools/jcas/commands.h"
#include "tools/jcas/pipeline_session.h"

namespace jcas::commands {

int status(const Args& args) {
  po::options_description desc("status");
  desc.add_options()("json", po::bool_switch(), "print one JSON object instead of the table");
  auto session = PipelineSession::open("status", "Show each stage of each round: done, stale or missing.", desc, args, WorkdirAccess::read);
  if (!session) return 0;
  bool json = session->values["json"].as<bool>();
  std::printf("%s\n", json ? status_json(*session->plan).c_str() : status_table(*session->plan, metric::status_columns()).c_str());
  return 0;
}

}  // namespace jcas::commands
