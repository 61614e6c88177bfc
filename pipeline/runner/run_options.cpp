#include "pipeline/runner/run_options.h"

#include <fmt/format.h>

#include "adapters/foundation/error.h"

namespace jcas {

const std::vector<std::pair<DeviceKind, const char*>>& EnumNames<DeviceKind>::table() {
  static const std::vector<std::pair<DeviceKind, const char*>> t = {{DeviceKind::cpu, "cpu"}, {DeviceKind::cuda, "cuda"}};
  return t;
}

void RunOptions::bind(OptionBinder& b) {
  b.bind("workdir", &workdir, "work directory holding the cache (one HDF5 file per stage result)");
  b.bind("rounds", &rounds, "adaptation rounds (pseudo-label -> estimate -> derive -> retrain -> evaluate)");
  b.bind("device", &device, "device");
  b.bind("threads", &threads, "LibTorch intra-op threads (0 = the CPUs this process may use: OMP_NUM_THREADS, affinity, cgroup quota)");
}

void RunOptions::check() const {
  if (workdir.empty()) throw UserError("--workdir must not be empty");
  if (rounds < 1 || rounds > 100) throw UserError(fmt::format("--rounds must be in 1..100, got {}", rounds));
  if (threads < 0) throw UserError(fmt::format("--threads must be >= 0, got {}", threads));
}

void bind_seed(OptionBinder& b, int64_t* seed) {
  b.bind("seed", seed, "seed of the data, initialisation and sampling");
}

}  // namespace jcas
