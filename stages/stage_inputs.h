#pragma once
// The models stages start from: a fresh one, or the one a stage result holds.
#include <cstdint>

#include "pipeline/model/deeplab.h"
#include "pipeline/runner/stage.h"
#include "stages/stage_results.h"

namespace jcas {

// The stage whose result holds the model that round `round` starts from:
// round 0 -> source, round r -> retrain[r-1] (the model of round r).
StageKey model_of_round(int round);
// A freshly initialised model; the initialisation follows the seed.
DeepLab build_model(ModelOptions options, int num_classes, uint64_t seed);
// The model held by `producer`'s result, on this process's device, in eval mode.
StoredModel load_model(const StageContext& ctx, const StageKey& producer);

}  // namespace jcas
