#pragma once
// Choosing a model without target labels: the models of a work directory (the source model and
// each round's) with the label-free criteria the pipeline recorded for them, ranked by one
// criterion. `jcas select` shows the ranking; `jcas export/predict --select NAME` take its choice.
#include <filesystem>
#include <string>
#include <vector>

#include "pipeline/cache/stage_record.h"
#include "pipeline/metrics/label_free_criteria.h"

namespace jcas {

struct PipelineSession;


struct ModelCandidate {
  std::filesystem::path workdir;
  int round = 0;         // 0 = the source model, r = the model after r rounds
  Metrics criteria;      // "lf_NAME" -> value (stages/stage_metrics.h)
  double test_mjac = 0;  // where the target's test split is labelled (NaN otherwise): shown, never used to choose
};

// The models of the session's pipeline whose result and criteria are computed and current.
std::vector<ModelCandidate> model_candidates(const PipelineSession& session);

// The candidate with the highest value of `criterion` (the earliest round among equals); nullptr
// when no candidate has a value for it.
const ModelCandidate* best_candidate(const std::vector<ModelCandidate>& candidates, const std::string& criterion);
double criterion_value(const ModelCandidate& c, const std::string& criterion);

}  // namespace jcas
