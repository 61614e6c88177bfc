#include "pipeline/runner/pipeline_plan.h"

#include <fmt/format.h>

#include <chrono>

#include "adapters/h5_store.h"
#include "pipeline/cache/stage_record.h"
#include "pipeline/core/error.h"
#include "pipeline/core/interrupt.h"
#include "pipeline/core/log.h"
#include "pipeline/core/progress.h"

namespace jcas {

const char* state_name(StageState s) {
  switch (s) {
    case StageState::done: return "done";
    case StageState::stale: return "stale";
    case StageState::missing: return "missing";
  }
  return "?";
}

PipelinePlan::PipelinePlan(const StageContext& ctx, const std::vector<std::unique_ptr<Stage>>& stages) : ctx_(ctx) {
  const int rounds = ctx.config().integer("rounds");
  if (rounds < 1 || rounds > 100) throw UserError(fmt::format("--rounds must be in 1..100, got {}", rounds));
  auto add = [&](const Stage& stage, int round) {
    PlannedStage p;
    p.key = {stage.name(), round};
    p.stage = &stage;
    p.path = ctx.result_path(p.key);
    p.inputs = stage.inputs(ctx, round);
    p.options_json = ctx.config().json(stage.option_keys(round));
    std::string text = fmt::format("stage={}\nround={}\nformat={}\n", p.key.name, round, kCacheFormatVersion);
    text += ctx.config().canonical(stage.option_keys(round));
    p.inputs_json = "{";
    for (const auto& in : p.inputs) {
      const PlannedStage* dep = find(in);
      if (!dep) throw std::logic_error(fmt::format("{} needs {} which is not planned before it", p.key.label(), in.label()));
      text += fmt::format("input {}={}\n", in.label(), dep->fingerprint);
      p.inputs_json += fmt::format("{}\"{}\": \"{}\"", p.inputs_json.size() > 1 ? ", " : "", in.label(), dep->fingerprint);
    }
    p.inputs_json += "}";
    p.fingerprint = hash_text(text);
    planned_.push_back(std::move(p));
  };
  for (const auto& s : stages)
    if (s->enabled(ctx)) s->validate(ctx);
  for (const auto& s : stages)
    if (!s->per_round() && s->enabled(ctx)) add(*s, 0);
  for (int r = 0; r < rounds; ++r)
    for (const auto& s : stages)
      if (s->per_round() && s->enabled(ctx)) add(*s, r);
}

const PlannedStage* PipelinePlan::find(const StageKey& key) const {
  for (const auto& p : planned_)
    if (p.key == key) return &p;
  return nullptr;
}

StageStatus PipelinePlan::status(const PlannedStage& planned) const {
  StageStatus s;
  if (!std::filesystem::exists(planned.path)) return s;
  try {
    StageRecord r = read_record(planned.path);
    s.seconds = r.seconds;
    s.metrics = r.metrics;
    if (r.stage != planned.key.name || r.round != planned.key.round) {
      s.state = StageState::stale;
      s.reason = fmt::format("file holds {}[{}]", r.stage, r.round);
    } else if (r.fingerprint != planned.fingerprint) {
      s.state = StageState::stale;
      s.reason = "options or inputs changed";
    } else {
      s.state = StageState::done;
    }
  } catch (const UserError& e) {
    s.state = StageState::stale;
    s.reason = e.what();
  }
  return s;
}

namespace {
bool forced(const PlannedStage& p, const std::set<std::string>& force) {
  return force.count(p.key.name) || force.count(p.key.label());
}
}  // namespace

int PipelineRunner::run_all(const std::set<std::string>& force) {
  for (const auto& f : force) {
    bool known = false;
    for (const auto& p : plan_.stages()) known = known || f == p.key.name || f == p.key.label();
    if (!known) throw UserError(fmt::format("--force: no stage '{}' in this pipeline", f));
  }
  // Dependants need no re-run after a forced stage: their fingerprints name the inputs'
  // fingerprints, which a re-run with the same options reproduces.
  int ran = 0;
  for (const auto& p : plan_.stages()) {
    StageStatus s = plan_.status(p);
    if (s.state == StageState::done && !forced(p, force)) {
      log::info("skip {:<22} cached ({})", p.key.label(), format_duration(s.seconds));
      continue;
    }
    std::string why = s.state == StageState::missing ? "missing"
                      : s.state == StageState::stale ? "stale: " + s.reason
                                                     : "forced";
    log::info("run  {:<22} ({})", p.key.label(), why);
    execute(p);
    ++ran;
  }
  return ran;
}

void PipelineRunner::run_one(const StageKey& key) {
  const PlannedStage* p = plan_.find(key);
  if (!p) throw UserError(fmt::format("no stage {} in this pipeline (check --round and --rounds)", key.label()));
  for (const auto& in : p->inputs) {
    const PlannedStage* dep = plan_.find(in);
    StageStatus s = plan_.status(*dep);
    if (s.state != StageState::done)
      throw UserError(fmt::format("{} needs {}, which is {}: run `jcas stage {} --round {}` first (or `jcas run`)",
                                  key.label(), in.label(), state_name(s.state), in.name, in.round));
  }
  log::info("run  {}", key.label());
  execute(*p);
}

void PipelineRunner::execute(const PlannedStage& p) {
  auto t0 = std::chrono::steady_clock::now();
  H5Writer out(p.path);
  auto metrics = p.stage->run(plan_.context(), p.key.round, p.fingerprint, out);
  StageRecord record;
  record.stage = p.key.name;
  record.round = p.key.round;
  record.fingerprint = p.fingerprint;
  record.options_json = p.options_json;
  record.inputs_json = p.inputs_json;
  record.metrics = metrics;
  record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  write_record(out, record);
  out.commit();
  std::string figures;
  for (const auto& [k, v] : metrics) figures += fmt::format(" {}={:.4f}", k, v);
  log::info("done {:<22} {}{}", p.key.label(), format_duration(record.seconds), figures);
  check_interrupted();
}

}  // namespace jcas
