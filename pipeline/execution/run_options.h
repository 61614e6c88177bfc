#pragma once
// The options of a pipeline run as a whole (not of one stage): where its cache lives, how many
// rounds, which device and how many threads. None of them changes a result, so no fingerprint
// holds them.
#include <cstdint>
#include <string>

#include "adapters/foundation/option_binder.h"

namespace jcas {

enum class DeviceKind { cpu, cuda };
template <>
struct EnumNames<DeviceKind> {
  static const std::vector<std::pair<DeviceKind, const char*>>& table();
};

struct RunOptions {
  std::string workdir = "work";
  int rounds = 2;
  DeviceKind device = DeviceKind::cpu;
  int threads = 0;
  int dist_timeout = 300;  // seconds; see ProcessGroup

  void bind(OptionBinder& b);
  void check() const;
};

// `seed`: the pipeline's seed, bound by every stage whose result it decides (data synthesis,
// initialisation, sample order), so it is declared here once.
void bind_seed(OptionBinder& b, int64_t* seed);
// UserError unless the seed is >= 0 (it becomes the unsigned seed of the generators).
void check_seed(int64_t seed);

// `precision`: float32 | bfloat16, how the training stages (source, retrain) run the network's
// forward pass: bfloat16 = under LibTorch's CPU autocast (convolutions and matrix products in
// bfloat16, the losses in float32; TrainerOptions::bfloat16). Bound like the seed by each stage it
// changes; added later, so float32 keeps existing work directories valid.
void bind_precision(OptionBinder& b, bool* bfloat16);
// UserError for bfloat16 on a device other than the CPU.
void check_precision(bool bfloat16, DeviceKind device);

}  // namespace jcas
