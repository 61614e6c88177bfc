#include "pipeline/execution/run_options.h"

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
  b.bind("dist_timeout", &dist_timeout,
         "data-parallel runs: seconds a rank waits for the others (a collective, or rank 0 alone running a stage) "
         "before the run fails");
}

void RunOptions::check() const {
  if (workdir.empty()) throw UserError("--workdir must not be empty");
  if (rounds < 1 || rounds > 100) throw UserError(fmt::format("--rounds must be in 1..100, got {}", rounds));
  if (threads < 0) throw UserError(fmt::format("--threads must be >= 0, got {}", threads));
  if (dist_timeout < 1) throw UserError(fmt::format("--dist_timeout must be >= 1 second, got {}", dist_timeout));
}

void bind_seed(OptionBinder& b, int64_t* seed) {
  b.bind("seed", seed, "seed of the data, initialisation and sampling");
}

void bind_precision(OptionBinder& b, bool* bfloat16) {
  b.added_later().bind(
      "precision",
      "float32 | bfloat16: training's forward passes under CPU autocast to bfloat16 (convolutions and matrix "
      "products; losses in float32): faster where the CPU has bfloat16 instructions, results not float32's "
      "(README: Speed)",
      [bfloat16] { return std::string(*bfloat16 ? "bfloat16" : "float32"); },
      [bfloat16](const std::string& t) {
        if (t != "float32" && t != "bfloat16")
          throw UserError(fmt::format("--precision: expected float32 or bfloat16, got '{}'", t));
        *bfloat16 = t == "bfloat16";
      });
}

void check_precision(bool bfloat16, DeviceKind device) {
  if (bfloat16 && device != DeviceKind::cpu)
    throw UserError("--precision bfloat16 is LibTorch's CPU autocast: use float32 with --device cuda");
}

void check_seed(int64_t seed) {
  if (seed < 0) throw UserError(fmt::format("--seed must be >= 0, got {}", seed));
}

}  // namespace jcas
