#include <chrono>
#include <cstdio>
#include <set>

#include "adapters/foundation/log.h"
#include "adapters/foundation/progress.h"
#include "pipeline/runner/status_report.h"
#include "stages/stage_metrics.h"
#include "tools/jcas/commands.h"
#include "tools/jcas/local_workers.h"
#include "tools/jcas/pipeline_session.h"

namespace jcas::commands {

int run(const Args& given) {
  Args args = given;
  if (auto nproc = take_nproc(args)) return run_local_workers(*nproc, "run", args);
  po::options_description desc("run");
  desc.add_options()("force", po::value<std::vector<std::string>>()->composing(),
                     "re-run a stage even if cached: NAME (every round) or NAME[r]; repeatable")(
      "nproc", po::value<int>(),
      "start N local processes of a data-parallel run (Gloo over 127.0.0.1; README: Scaling out); under "
      "torchrun leave it out");
  auto session = PipelineSession::open("run", "Run every stage that is missing or stale; skip what is cached.",
                                       desc, args, WorkdirAccess::write);
  if (!session) return 0;
  std::set<std::string> force;
  if (session->values.count("force"))
    for (const auto& f : session->values["force"].as<std::vector<std::string>>()) force.insert(f);
  auto t0 = std::chrono::steady_clock::now();
  log::info("work directory {}", session->context->workdir().string());
  int ran = PipelineRunner(*session->plan).run_all(force);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  log::info("{} stage(s) run, {} total", ran, format_duration(seconds));
  if (session->context->execution().is_writer()) std::printf("%s", status_table(*session->plan, metric::status_columns()).c_str());
  return 0;
}

}  // namespace jcas::commands
