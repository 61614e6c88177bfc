#include <cstdio>

#include "jcas_version.h"
#include "adapters/foundation/options.h"
#include "tools/jcas/commands.h"

namespace jcas::commands {

int version(const Args& args) {
  po::options_description desc("version");
  if (parse_options("version", "Print the toolkit version.", desc, args).help) return 0;
  std::printf("jcas %s\n", JCAS_VERSION);
  return 0;
}

}  // namespace jcas::commands
