#pragma once
// `jcas status`: a round x stage table (state, wall time, headline figures) or one JSON object.
#include <string>
#include <utility>
#include <vector>

#include "pipeline/runner/pipeline_plan.h"

namespace jcas {

// `columns`: the recorded figures shown, as (metric key, title); a stage without one leaves it blank.
std::string status_table(const PipelinePlan& plan, const std::vector<std::pair<std::string, std::string>>& columns);
// {"stages": [{"round": r, "stage": name, "state": "done|stale|missing", "seconds": s, "metrics": {...}}]}
std::string status_json(const PipelinePlan& plan);

}  // namespace jcas
