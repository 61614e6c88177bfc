#include "adapters/foundation/error.h"
#include "stages/pipeline_stages.h"
#include "tools/jcas/commands.h"
#include "tools/jcas/pipeline_session.h"

namespace jcas::commands {

int stage(const Args& args) {
  po::options_description desc("stage");
  std::string names;
  for (const auto& s : pipeline_stages()) names += (names.empty() ? "" : ", ") + s->name();
  desc.add_options()("name", po::value<std::string>(), ("stage to run (" + names + ")").c_str())(
      "round", po::value<int>()->default_value(0), "round of the stage");
  auto session = PipelineSession::open("stage", "Run one stage; its inputs must be up to date.", desc, args, WorkdirAccess::write, {"name"});
  if (!session) return 0;
  if (!session->values.count("name")) throw UserError("which stage? e.g. `jcas stage pseudo_label --round 0`");
  PipelineRunner(*session->plan).run_one({session->values["name"].as<std::string>(), session->values["round"].as<int>()});
  return 0;
}

}  // namespace jcas::commands
