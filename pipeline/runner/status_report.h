#pragma once
// `jcas status`: a round x stage table (state, wall time, headline figures) or one JSON object.
#include <string>

#include "pipeline/runner/pipeline_plan.h"

namespace jcas {

std::string status_table(const PipelinePlan& plan);
// {"stages": [{"round": r, "stage": name, "state": "done|stale|missing", "seconds": s, "metrics": {...}}]}
std::string status_json(const PipelinePlan& plan);

}  // namespace jcas
