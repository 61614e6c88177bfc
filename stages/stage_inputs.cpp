#include "stages/stage_inputs.h"

namespace jcas {

StageKey model_of_round(int round) { return round == 0 ? StageKey{"source", 0} : StageKey{"retrain", round - 1}; }

DeepLab build_model(ModelOptions options, int num_classes, uint64_t seed) {
  options.num_classes = num_classes;
  torch::manual_seed(seed);
  return DeepLab(options);
}

StoredModel load_model(const StageContext& ctx, const StageKey& producer) {
  return StoredModel::read(ctx.result_path(producer), ctx.execution().device());
}

}  // namespace jcas
