#include "pipeline/runner/pipeline_plan.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <chrono>
#include <map>
#include <set>

#include "adapters/foundation/error.h"
#include "adapters/foundation/interrupt.h"
#include "adapters/foundation/log.h"
#include "adapters/foundation/progress.h"

namespace jcas {

PipelinePlan::PipelinePlan(const StageContext& ctx, const std::vector<std::unique_ptr<Stage>>& stages) : ctx_(ctx) {
  const int rounds = ctx.run().rounds;
  std::vector<std::unique_ptr<BoundOptionsBase>> bound;
  std::vector<bool> enabled;
  for (const auto& s : stages) {
    bound.push_back(s->bind_options(ctx.values()));
    const std::string why = s->skip_reason(ctx, *bound.back());
    enabled.push_back(why.empty());
    if (why.empty())
      s->validate(ctx, *bound.back());
    else
      skipped_.emplace_back(s->name(), why);
  }
  auto add = [&](size_t index, int round) {
    const Stage& stage = *stages[index];
    auto p = std::make_unique<PlannedStage>();
    p->key = {stage.name(), round};
    p->stage = &stage;
    p->options = stage.bind_options(ctx.values());
    p->inputs = stage.inputs(ctx, *p->options, round);
    for (const auto& in : p->inputs)
      if (!find(in))
        throw std::logic_error(fmt::format("{} needs {} which is not planned before it", p->key.label(), in.label()));
    p->job.stage = stage.name();
    p->job.round = round;
    p->job.label = p->key.label();
    p->job.path = ctx.result_path(p->key);
    p->job.options = p->options->json();
    const PlannedStage* self = p.get();
    p->job.compute = [this, self](H5Writer& out) {
      return self->stage->run(ctx_, *self->options, self->key.round, self->fingerprint(), out);
    };
    planned_.push_back(std::move(p));
  };
  for (size_t i = 0; i < stages.size(); ++i)
    if (!stages[i]->per_round() && enabled[i]) add(i, 0);
  for (int r = 0; r < rounds; ++r)
    for (size_t i = 0; i < stages.size(); ++i)
      if (stages[i]->per_round() && enabled[i]) add(i, r);
  refresh();
}

namespace {

// A file's name in fingerprints: relative to the work directory when inside it, so that a copied
// or moved work directory keeps its cache.
std::string where(const std::filesystem::path& path, const std::filesystem::path& workdir) {
  auto rel = path.lexically_normal().lexically_relative(workdir.lexically_normal());
  if (!rel.empty() && *rel.begin() != "..") return rel.generic_string();
  return path.generic_string();
}

}  // namespace

void PipelinePlan::refresh() const {
  for (const auto& p : planned_) {
    nlohmann::json inputs = nlohmann::json::object();
    for (const auto& in : p->inputs) inputs[in.label()] = find(in)->fingerprint();
    for (const auto& read : p->stage->dataset_reads(ctx_, *p->options, p->key.round)) {
      const std::string label = fmt::format("contents of {}:{}{}", where(read.dataset.root, ctx_.workdir()),
                                            read.split, read.with_labels ? " with labels" : "");
      inputs[label] = ctx_.digests().combined(read.dataset.root, dataset_files(read));
    }
    for (const auto& file : p->stage->file_reads(ctx_, *p->options, p->key.round))
      inputs["contents of " + where(file, ctx_.workdir())] = ctx_.digests().digest(file);
    if (p->stage->depends_on_world_size(*p->options) && ctx_.execution().world_size() > 1)
      inputs["world size"] = std::to_string(ctx_.execution().world_size());
    if (const int revision = p->stage->revision(*p->options)) inputs["revision"] = std::to_string(revision);
    p->job.inputs = inputs;
    p->job.fingerprint = job_fingerprint(p->key.name, p->key.round, p->options->canonical(), inputs);
  }
}

void PipelinePlan::validate_reads() const {
  std::set<std::string> done;
  for (const auto& p : planned_)
    for (const auto& read : p->stage->dataset_reads(ctx_, *p->options, p->key.round))
      if (done.insert(read.label()).second) validate_dataset_read(read);
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
  // Rank 0 decides which stages are left (the ranks of a data-parallel run may look at the files at
  // different moments); the others take its list.
  const auto& planned = plan_.stages();
  std::vector<torch::Tensor> to_run = {torch::zeros({static_cast<int64_t>(planned.size())}, torch::kInt64)};
  std::vector<std::string> reasons(planned.size());
  std::map<std::string, double> typical;  // seconds per stage name: the latest known duration
  for (size_t i = 0; i < planned.size(); ++i) {
    const PlannedStage& p = *planned[i];
    CacheStatus s = plan_.status(p);
    if (s.record) typical[p.key.name] = s.record->seconds;
    if (s.state == CacheState::done && !forced(p, force)) {
      log::info("skip {:<22} cached ({})", p.key.label(), format_duration(s.record->seconds));
      continue;
    }
    to_run[0][static_cast<int64_t>(i)] = 1;
    reasons[i] = s.state == CacheState::missing ? "missing" : s.state == CacheState::stale ? "stale: " + s.reason : "forced";
  }
  plan_.context().execution().broadcast_from_writer(to_run);
  std::vector<std::pair<const PlannedStage*, std::string>> todo;
  for (size_t i = 0; i < planned.size(); ++i)
    if (to_run[0][static_cast<int64_t>(i)].item<int64_t>() != 0)
      todo.emplace_back(planned[i].get(), reasons[i].empty() ? "rank 0 runs it" : reasons[i]);
  // The run's ETA: the stages left, each as long as its last known run (a later round's stage as
  // the earlier round's); unknown until every stage left has one.
  auto eta = [&](size_t from) {
    double left = 0;
    for (size_t i = from; i < todo.size(); ++i) {
      auto it = typical.find(todo[i].first->key.name);
      if (it == typical.end()) return std::string();
      left += it->second;
    }
    return ", about " + format_duration(left) + " left";
  };
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& [name, why] : plan_.skipped()) log::info("skip {:<22} {}", name, why);
  int ran = 0;
  for (size_t i = 0; i < todo.size(); ++i) {
    const auto& [p, why] = todo[i];
    // A stage run earlier in this loop may have made a later one up to date (same fingerprint).
    // Rank 0 decides for all: it may already have committed this stage when another rank looks.
    if (writer_decides(plan_.status(*p).state == CacheState::done && !forced(*p, force))) continue;
    validate_once(*p);
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    log::info("run  {:<22} (stage {}/{}, {} so far{}; {})", p->key.label(), i + 1, todo.size(),
              format_duration(elapsed), eta(i), why);
    typical[p->key.name] = execute(*p);
    ++ran;
  }
  return ran;
}

bool PipelineRunner::writer_decides(bool decision) const {
  const ExecutionContext& execution = plan_.context().execution();
  if (execution.world_size() == 1) return decision;
  std::vector<torch::Tensor> flag = {torch::tensor({static_cast<int64_t>(decision)})};
  execution.broadcast_from_writer(flag);
  return flag[0].item<int64_t>() != 0;
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
  validate_once(*p);
  log::info("run  {}", key.label());
  execute(*p);
}

void PipelineRunner::validate_once(const PlannedStage& next) {
  // Generated data exists only once its stage has run; everything else is checked up front.
  if (validated_ || next.stage->dataset_reads(plan_.context(), *next.options, next.key.round).empty()) return;
  plan_.validate_reads();
  validated_ = true;
}

void PipelineRunner::ensure(const StageKey& key) {
  const PlannedStage* p = plan_.find(key);
  if (!p) return;
  if (writer_decides(plan_.status(*p).state == CacheState::done)) {
    log::info("skip {} (cached)", key.label());
    return;
  }
  run_one(key);
}

double PipelineRunner::execute(const PlannedStage& p) {
  const ExecutionContext& execution = plan_.context().execution();
  StageRecord record;
  if (execution.is_writer() || p.stage->runs_on_every_rank()) record = run_job(p.job, execution.is_writer());
  if (execution.world_size() > 1) {
    // The other ranks go on with what rank 0 committed.
    execution.barrier(fmt::format("waiting for rank 0 to commit {}", p.key.label()));
    if (!execution.is_writer()) {
      CacheStatus committed = plan_.status(p);
      if (committed.state != CacheState::done)
        throw UserError(fmt::format("rank {}: rank 0's {} is not in {} ({}): the work directory must be shared by "
                                    "all ranks",
                                    execution.rank(), p.key.label(), p.path().string(), state_name(committed.state)));
      record = *committed.record;
    }
  }
  plan_.refresh();  // what it wrote may be what later stages read
  std::string figures;
  for (const auto& [k, v] : record.metrics) figures += fmt::format(" {}={:.4f}", k, v);
  log::info("done {:<22} {}{}", p.key.label(), format_duration(record.seconds), figures);
  check_interrupted();
  return record.seconds;
}

}  // namespace jcas
