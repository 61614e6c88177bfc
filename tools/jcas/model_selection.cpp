#include "tools/jcas/model_selection.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "adapters/foundation/error.h"
#include "stages/stage_inputs.h"
#include "stages/stage_metrics.h"
#include "tools/jcas/pipeline_session.h"

namespace jcas {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Whether `key`'s result is computed and current.
bool is_current(const PipelineSession& s, const StageKey& key) {
  const PlannedStage* p = s.plan->find(key);
  return p && s.plan->status(*p).state == CacheState::done;
}

// The current record of `key`'s result, or nullptr when it is not computed or stale.
std::unique_ptr<StageRecord> current_record(const PipelineSession& s, const StageKey& key) {
  return is_current(s, key) ? std::make_unique<StageRecord>(read_record(s.context->result_path(key))) : nullptr;
}

}  // namespace

std::vector<ModelCandidate> model_candidates(const PipelineSession& s) {
  std::vector<ModelCandidate> out;
  for (int round = 0; round <= s.context->run().rounds; ++round) {
    const StageKey criteria = round == 0 ? StageKey{"criteria_source", 0} : StageKey{"criteria", round - 1};
    const StageKey evaluation = round == 0 ? StageKey{"evaluate_source", 0} : StageKey{"evaluate", round - 1};
    const auto record = current_record(s, criteria);
    if (!record || !is_current(s, model_of_round(round))) continue;
    ModelCandidate c;
    c.workdir = s.context->workdir();
    c.round = round;
    c.criteria = record->metrics;
    const auto scored = current_record(s, evaluation);
    c.test_mjac = scored && scored->metrics.count(metric::test_mjac) ? scored->metrics.at(metric::test_mjac) : kNaN;
    out.push_back(std::move(c));
  }
  return out;
}

double criterion_value(const ModelCandidate& c, const std::string& criterion) {
  const auto it = c.criteria.find(metric::criterion(criterion));
  return it == c.criteria.end() ? kNaN : it->second;
}

const ModelCandidate* best_candidate(const std::vector<ModelCandidate>& candidates, const std::string& criterion) {
  const ModelCandidate* best = nullptr;
  for (const auto& c : candidates) {
    const double v = criterion_value(c, criterion);
    if (!std::isnan(v) && (!best || v > criterion_value(*best, criterion))) best = &c;
  }
  return best;
}

}  // namespace jcas
