#include "tools/jcas/pipeline_session.h"

#include <fmt/format.h>
#include <unistd.h>

#include <functional>

#include "adapters/foundation/child_process.h"
#include "adapters/foundation/log.h"
#include "jcas_version.h"
#include "adapters/foundation/error.h"
#include "adapters/io/file_writes.h"
#include "stages/pipeline_stages.h"
#include "stages/stage_inputs.h"
#include "tools/jcas/model_selection.h"

namespace jcas {
namespace {

std::filesystem::path stored_config(const po::variables_map& vm) {
  return std::filesystem::path(vm["workdir"].as<std::string>()) / "config.ini";
}

void store_config(const std::filesystem::path& file, const std::string& ini) {
  write_text_file(file, "# The effective configuration of the last `jcas run`/`jcas stage` here; the other\n"
                        "# commands read it when given no --config.\n" + ini);
}

}  // namespace

std::string ChosenModel::description() const {
  return fmt::format("{} ({})", round == 0 ? "the source model" : fmt::format("the model after {} round(s)", round),
                     producer.label());
}

void PipelineSession::add_model_option(po::options_description& desc) {
  desc.add_options()("model", po::value<int>(), "which model: 0 = the source model, r = the model after r rounds "
                                                "(default: the last round's)")(
      "select", po::value<std::string>(),
      "choose the model by a label-free criterion instead of --model (as `jcas select` ranks them)");
}

ChosenModel PipelineSession::chosen_model() const {
  const int rounds = context->run().rounds;
  ChosenModel m;
  m.round = values.count("model") ? values["model"].as<int>() : rounds;
  if (values.count("select")) {
    if (values.count("model")) throw UserError("--model and --select both choose the model: give one");
    const std::string criterion = values["select"].as<std::string>();
    check_criterion(criterion, "--select");
    const auto candidates = model_candidates(*this);
    const ModelCandidate* best = best_candidate(candidates, criterion);
    if (!best)
      throw UserError(fmt::format("--select {}: no model of {} has it computed: run `jcas run` first", criterion,
                                  context->workdir().string()));
    m.round = best->round;
  }
  if (m.round < 0 || m.round > rounds)
    throw UserError(fmt::format("--model: {} is not a model of this pipeline (0..{})", m.round, rounds));
  m.producer = model_of_round(m.round);
  const PlannedStage* p = plan->find(m.producer);
  const CacheStatus status = p ? plan->status(*p) : CacheStatus{};
  if (status.state != CacheState::done)
    throw UserError(fmt::format("{} is {}{}: run `jcas run` first", m.description(), state_name(status.state),
                                status.reason.empty() ? "" : " (" + status.reason + ")"));
  m.stored = load_model(*context, m.producer);
  return m;
}

DerivedPipeline PipelineSession::derive(const std::map<std::string, std::string>& changes) const {
  OptionValues values = context->values();
  for (const auto& [key, text] : changes) values.set(key, text);
  DerivedPipeline d;
  d.context = std::make_unique<StageContext>(values, values.get<RunOptions>(), context->execution(), stages);
  if (std::filesystem::weakly_canonical(d.context->workdir()) == std::filesystem::weakly_canonical(context->workdir()))
    throw std::logic_error("PipelineSession::derive: the derived pipeline needs a work directory of its own");
  d.plan = std::make_unique<PipelinePlan>(*d.context, stages);
  if (context->execution().is_writer())
    store_config(d.context->workdir() / "config.ini", bindings_ini(schema->bindings(), values));
  return d;
}

std::unique_ptr<PipelineSession> PipelineSession::open(const std::string& command, const std::string& summary,
                                                       const po::options_description& extra,
                                                       const std::vector<std::string>& args, WorkdirAccess access,
                                                       const std::vector<std::string>& positional,
                                                       const std::string& file_section,
                                                       const std::function<void(const PipelineSession&)>& check) {
  auto s = std::make_unique<PipelineSession>();
  s->stages = pipeline_stages();
  s->schema = std::make_unique<OptionSchema>(s->stages);
  po::options_description desc("Pipeline options (INI: top-level keys, then [data], [synth], [model], ...)");
  declare_options(s->schema->bindings(), desc);
  po::options_description output("Output");
  output.add_options()("quiet,q", po::bool_switch(), "log warnings and errors only")(
      "verbose,v", po::bool_switch(), "log debug lines too");
  if (access != WorkdirAccess::read)
    output.add_options()("wait", po::bool_switch(), "wait for another run holding the work directory to finish");
  po::options_description all;
  all.add(extra).add(desc).add(output);
  // A reader (or an extending writer) given no --config takes the work directory's stored configuration.
  std::function<std::string(const po::variables_map&)> implied_config;
  if (access != WorkdirAccess::write) implied_config = [](const po::variables_map& vm) { return stored_config(vm).string(); };
  auto parsed = parse_options(command, summary, all, args, positional, file_section, implied_config);
  if (parsed.help) return nullptr;
  s->values = parsed.values;
  if (s->values["quiet"].as<bool>()) log::set_level(log::Level::quiet);
  if (s->values["verbose"].as<bool>()) log::set_level(log::Level::debug);
  OptionValues values = resolve_options(s->schema->bindings(), s->values);
  RunOptions run = values.get<RunOptions>();
  set_thread_count(run.threads);
  ExecutionContext execution = ExecutionContext::from(run);  // a data-parallel run's ranks meet here
  s->context = std::make_unique<StageContext>(values, run, execution, s->stages);
  s->plan = std::make_unique<PipelinePlan>(*s->context, s->stages);  // every option checked before the lock
  if (check) check(*s);
  // Rank 0 speaks for a data-parallel run and alone holds the lock and writes the log file; the
  // others' lines (with --verbose) name their rank.
  if (!execution.is_writer()) {
    if (!s->values["verbose"].as<bool>()) log::set_level(log::Level::quiet);
    log::set_prefix(fmt::format("rank {}: ", execution.rank()));
  }
  if (access != WorkdirAccess::read) {
    // The others wait for rank 0 without the collectives' timeout: with --wait it may wait long.
    execution.after_writer("waiting for rank 0 to take the work directory's lock", [&] {
      s->lock = std::make_unique<WorkdirLock>(run.workdir, s->values["wait"].as<bool>());
      log::open_file(std::filesystem::path(run.workdir) / "jcas.log");
      const std::string effective = bindings_ini(s->schema->bindings(), values);
      store_config(stored_config(s->values), effective);
      std::string line = "jcas " + command;
      for (const auto& a : args) line += " " + a;
      // --nproc is the launcher's (taken off the workers' arguments): the world size says what it was.
      const std::string ranks = execution.world_size() > 1 ? fmt::format(", rank 0 of {}", execution.world_size()) : "";
      log::to_file(fmt::format("\n=== {} (jcas {}, pid {}{}, OpenMP waiting: {})\n=== effective configuration:\n{}\n",
                               line, JCAS_VERSION, static_cast<long>(getpid()), ranks, openmp_waiting(), effective));
      return std::string();
    });
    s->plan->refresh();  // another run may have changed the work directory while rank 0 waited
  }
  return s;
}

}  // namespace jcas
