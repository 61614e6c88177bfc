#include <fmt/format.h>

#include <algorithm>
#include <functional>

#include "adapters/foundation/error.h"
#include "adapters/foundation/log.h"
#include "stages/pipeline_stages.h"
#include "tools/jcas/commands.h"
#include "tools/jcas/pipeline_session.h"

namespace jcas::commands {

int stage(const Args& args) {
  po::options_description desc("stage");
  std::string names;
  for (const auto& s : pipeline_stages()) names += (names.empty() ? "" : ", ") + s->name();
  desc.add_options()("name", po::value<std::vector<std::string>>()->multitoken(),
                     ("stage(s) to run, in the order given (" + names + ")").c_str())(
      "round", po::value<int>()->default_value(0), "round of the stage(s)")(
      "ensure", po::bool_switch(),
      "run each stage only if it is missing or stale, and first, the same way, every stage it needs (cached ones "
      "are skipped)");
  // The stages named, each checked against the plan before the work directory is touched.
  std::vector<StageKey> keys;
  auto name_stages = [&keys](const PipelineSession& s) {
    if (!s.values.count("name")) throw UserError("which stage? e.g. `jcas stage pseudo_label --round 0`");
    for (const auto& name : s.values["name"].as<std::vector<std::string>>()) {
      const StageKey key{name, s.values["round"].as<int>()};
      if (!s.plan->find(key)) {
        for (const auto& [skipped, why] : s.plan->skipped())
          if (skipped == name) throw UserError(fmt::format("stage {} is not part of this pipeline: {}", name, why));
        throw UserError(fmt::format("no stage {} in this pipeline (check the name, --round and --rounds)", key.label()));
      }
      keys.push_back(key);
    }
  };
  auto session = PipelineSession::open("stage", "Run stages one by one; their inputs must be up to date.", desc, args,
                                       WorkdirAccess::extend, {"name"}, "", name_stages);
  if (!session) return 0;
  const PipelinePlan& plan = *session->plan;
  PipelineRunner runner(plan);
  if (!session->values["ensure"].as<bool>()) {
    for (const auto& key : keys) runner.run_one(key);
    return 0;
  }
  // Inputs first (depth first), each once; a stage left out of the plan is skipped with it.
  std::vector<StageKey> order;
  std::function<void(const StageKey&)> visit = [&](const StageKey& k) {
    const PlannedStage* p = plan.find(k);
    if (!p || std::find(order.begin(), order.end(), k) != order.end()) return;
    for (const auto& in : p->inputs) visit(in);
    order.push_back(k);
  };
  for (const auto& key : keys) visit(key);
  int ran = 0;
  for (const auto& k : order) {
    const bool cached = plan.status(*plan.find(k)).state == CacheState::done;
    runner.ensure(k);
    if (!cached) ++ran;
  }
  log::info("{} stage(s) run", ran);
  return 0;
}

}  // namespace jcas::commands
