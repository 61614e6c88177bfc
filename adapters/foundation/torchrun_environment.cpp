#include "adapters/foundation/torchrun_environment.h"

#include <fmt/format.h>

#include <cstdlib>
#include <string>

#include "adapters/foundation/error.h"

namespace jcas {
namespace {

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  size_t used = 0;
  int value = 0;
  try {
    value = std::stoi(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || v[used] != '\0')
    throw UserError(fmt::format("environment variable {}='{}' is not an integer", name, v));
  return value;
}

}  // namespace

TorchrunEnvironment read_torchrun_environment() {
  TorchrunEnvironment e;
  e.world_size = env_int("WORLD_SIZE", 1);
  e.rank = env_int("RANK", 0);
  if (e.world_size < 1 || e.rank < 0 || e.rank >= e.world_size)
    throw UserError(fmt::format("RANK={} and WORLD_SIZE={} do not name a process of the run", e.rank, e.world_size));
  e.local_world_size = env_int("LOCAL_WORLD_SIZE", 1);
  e.local_rank = env_int("LOCAL_RANK", 0);
  // Some launchers set LOCAL_RANK alone: only its sign is checked.
  if (e.local_rank < 0 || e.local_world_size < 1)
    throw UserError(fmt::format("LOCAL_RANK={} and LOCAL_WORLD_SIZE={} do not name a process of this node",
                                e.local_rank, e.local_world_size));
  return e;
}

}  // namespace jcas
