#include <chrono>

#include "tools/ablation/ablation.h"
#include "adapters/foundation/error.h"
#include "adapters/foundation/log.h"
#include "adapters/foundation/progress.h"
#include "adapters/io/file_writes.h"
#include "tools/jcas/commands.h"
#include "tools/jcas/pipeline_session.h"

namespace jcas::commands {

// The ablation's own options: on the command line (`--ellipse-rate 0.3`) or in the config's
// [ablation] section (`ellipse_rate = 0.3`); the command line wins. Training settings are the pipeline's [retrain].
int ablation(const Args& args) {
  AblationOptions o;
  OptionBinder binder;
  o.bind(binder);
  po::options_description cli("ablation");
  declare_options(binder.bindings(), cli);
  cli.add_options()("quick", po::bool_switch(), "at most 2 epochs (1 warm-up) and 1 seed: a smoke test of the command");
  auto session = PipelineSession::open(
      "ablation",
      "Train every ablation variant and baseline on the target train split (synthetic noise on the clean labels or "
      "the source model's pseudo labels), select on val, report test Dice/Jaccard over seeds as Markdown.",
      cli, args, WorkdirAccess::write, {}, "ablation");
  if (!session) return 0;
  if (session->context->execution().world_size() > 1)
    throw UserError("the ablation runs in one process: spreading its runs over the ranks of a data-parallel run is "
                    "not built yet (start it without torchrun)");
  resolve_options(binder.bindings(), session->values).apply(binder.bindings());
  o.quick = session->values["quick"].as<bool>();

  auto t0 = std::chrono::steady_clock::now();
  std::vector<DerivedPipeline> seed_pipelines;  // kept alive while the ablation runs
  Ablation ablation(*session->plan, o, [&](const std::map<std::string, std::string>& changes) -> const PipelinePlan& {
    seed_pipelines.push_back(session->derive(changes));
    return *seed_pipelines.back().plan;
  });
  log::info("work directory {}", session->context->workdir().string());
  ablation.prepare();
  auto runs = ablation.run_all();
  auto rates = ablation.noise_rates();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string md = ablation.markdown(runs, rates, seconds);
  const auto path = ablation.report_path();
  write_text_file(path, md);
  log::info("ablation: {} run(s) in {}; report {}", runs.size(), format_duration(seconds), path.string());
  std::printf("%s", md.c_str());
  return 0;
}

}  // namespace jcas::commands
