#include "pipeline/runner/pipeline_plan.h"

#include <fmt/format.h>

#include "adapters/foundation/error.h"
#include "adapters/foundation/interrupt.h"
#include "adapters/foundation/log.h"
#include "adapters/foundation/progress.h"

namespace jcas {

PipelinePlan::PipelinePlan(const StageContext& ctx, const std::vector<std::unique_ptr<Stage>>& stages) : ctx_(ctx) {
  const int rounds = ctx.run().rounds;
  std::vector<std::unique_ptr<BoundOptionsBase>> bound;
  for (const auto& s : stages) {
    bound.push_back(s->bind_options(ctx.values()));
    if (s->enabled(ctx, *bound.back())) s->validate(ctx, *bound.back());
  }
  auto add = [&](size_t index, int round) {
    const Stage& stage = *stages[index];
    auto p = std::make_unique<PlannedStage>();
    p->key = {stage.name(), round};
    p->stage = &stage;
    p->options = stage.bind_options(ctx.values());
    p->inputs = stage.inputs(ctx, *p->options, round);
    for (const auto& in : p->inputs) {
      const PlannedStage* dep = find(in);
      if (!dep)
        throw std::logic_error(fmt::format("{} needs {} which is not planned before it", p->key.label(), in.label()));
      p->job.inputs[in.label()] = dep->fingerprint();
    }
    p->job.stage = stage.name();
    p->job.round = round;
    p->job.label = p->key.label();
    p->job.path = ctx.result_path(p->key);
    p->job.options = p->options->json();
    p->job.fingerprint = job_fingerprint(stage.name(), round, p->options->canonical(), p->job.inputs);
    const PlannedStage* self = p.get();
    p->job.compute = [this, self](H5Writer& out) {
      return self->stage->run(ctx_, *self->options, self->key.round, self->fingerprint(), out);
    };
    planned_.push_back(std::move(p));
  };
  for (size_t i = 0; i < stages.size(); ++i)
    if (!stages[i]->per_round() && stages[i]->enabled(ctx, *bound[i])) add(i, 0);
  for (int r = 0; r < rounds; ++r)
    for (size_t i = 0; i < stages.size(); ++i)
      if (stages[i]->per_round() && stages[i]->enabled(ctx, *bound[i])) add(i, r);
}

const PlannedStage* PipelinePlan::find(const StageKey& key) const {
  for (const auto& p : planned_)
    if (p->key == key) return p.get();
  return nullptr;
}

namespace {
bool forced(const PlannedStage& p, const std::set<std::string>& force) {
  return force.count(p.key.name) || force.count(p.key.label());
}
}  // namespace

int PipelineRunner::run_all(const std::set<std::string>& force) {
  for (const auto& f : force) {
    bool known = false;
    for (const auto& p : plan_.stages()) known = known || f == p->key.name || f == p->key.label();
    if (!known) throw UserError(fmt::format("--force: no stage '{}' in this pipeline", f));
  }
  // Dependants need no re-run after a forced stage: their fingerprints name the inputs'
  // fingerprints, which a re-run with the same options reproduces.
  int ran = 0;
  for (const auto& p : plan_.stages()) {
    CacheStatus s = plan_.status(*p);
    if (s.state == CacheState::done && !forced(*p, force)) {
      log::info("skip {:<22} cached ({})", p->key.label(), format_duration(s.record->seconds));
      continue;
    }
    std::string why = s.state == CacheState::missing ? "missing"
                      : s.state == CacheState::stale ? "stale: " + s.reason
                                                     : "forced";
    log::info("run  {:<22} ({})", p->key.label(), why);
    execute(*p);
    ++ran;
  }
  return ran;
}

void PipelineRunner::run_one(const StageKey& key) {
  const PlannedStage* p = plan_.find(key);
  if (!p) throw UserError(fmt::format("no stage {} in this pipeline (check --round and --rounds)", key.label()));
  for (const auto& in : p->inputs) {
    CacheStatus s = plan_.status(*plan_.find(in));
    if (s.state != CacheState::done)
      throw UserError(fmt::format("{} needs {}, which is {}: run `jcas stage {} --round {}` first (or `jcas run`)",
                                  key.label(), in.label(), state_name(s.state), in.name, in.round));
  }
  log::info("run  {}", key.label());
  execute(*p);
}

void PipelineRunner::ensure(const StageKey& key) {
  const PlannedStage* p = plan_.find(key);
  if (!p) return;
  if (plan_.status(*p).state == CacheState::done) {
    log::info("skip {} (cached)", key.label());
    return;
  }
  run_one(key);
}

void PipelineRunner::execute(const PlannedStage& p) {
  StageRecord record = run_job(p.job, plan_.context().execution().is_writer());
  std::string figures;
  for (const auto& [k, v] : record.metrics) figures += fmt::format(" {}={:.4f}", k, v);
  log::info("done {:<22} {}{}", p.key.label(), format_duration(record.seconds), figures);
  check_interrupted();
}

}  // namespace jcas
