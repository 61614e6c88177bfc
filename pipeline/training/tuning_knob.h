#pragma once
// What `jcas benchmark --tune` tries of an adaptation method (AdaptationMethod::tuning_knob): its
// main knob, a pipeline option's key, at kTuningBudget values, its default among them, so every
// method gets the same number of configurations. An empty key: the method has no knob (AdaBN), one
// configuration. Without LibTorch, so the benchmark's header can hold knobs.
#include <string>
#include <vector>

namespace jcas {

struct TuningKnob {
  std::string key;
  std::vector<std::string> values;
};
inline constexpr int kTuningBudget = 3;

}  // namespace jcas
