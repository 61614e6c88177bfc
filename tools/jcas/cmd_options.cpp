// `jcas options`: every pipeline option with its help, as an INI file of the values in effect
// (the defaults, or what --config and the command line set): a starting point for a config.
#include <cstdio>

#include "tools/jcas/commands.h"
#include "tools/jcas/pipeline_session.h"

namespace jcas::commands {

int options(const Args& args) {
  po::options_description desc("options");
  auto session = PipelineSession::open(
      "options", "Print every pipeline option as an INI file, set to the values in effect (defaults, --config, flags).",
      desc, args, WorkdirAccess::read);
  if (!session) return 0;
  std::printf("%s", bindings_ini(session->schema->bindings(), session->context->values()).c_str());
  return 0;
}

}  // namespace jcas::commands
