#include <chrono>
#include <fstream>
#include <sstream>

#include "tools/ablation/ablation.h"
#include "adapters/foundation/error.h"
#include "adapters/foundation/log.h"
#include "adapters/foundation/progress.h"
#include "tools/jcas/commands.h"
#include "tools/jcas/pipeline_session.h"

namespace jcas::commands {

namespace {
std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}
}  // namespace

// The ablation's own options: on the command line (`--ellipse-rate 0.3`) or in the config's
// [ablation] section (`ellipse_rate = 0.3`); the command line wins. Training settings are the pipeline's [retrain].
int ablation(const Args& args) {
  const AblationOptions d;
  po::options_description cli("ablation");
  cli.add_options()("noise", po::value<std::string>(), "training labels: ellipse | symmetric | asymmetric | sfda")(
      "seeds", po::value<int>(), "training seeds 0..N-1 (default 3)")(
      "variants", po::value<std::string>(),
      "comma list of rows (default all): upper_bound,ce,affinity,dar,calc,jcas,volmin,sparsereg")(
      "out", po::value<std::string>(), "Markdown report (default WORKDIR/ablation/<noise>.md)")(
      "quick", po::bool_switch(), "at most 2 epochs (1 warm-up) and 1 seed: a smoke test of the command")(
      "ellipse-rate", po::value<double>(), "ellipse perturbation strength (default 0.3)")(
      "symmetric-rate", po::value<double>(), "symmetric flip rate (default 0.5)")(
      "asymmetric-rate", po::value<double>(), "asymmetric flip rate (default 0.5)")(
      "unit", po::value<std::string>(), "region | pixel: what symmetric/asymmetric flip (default region)")(
      "noise-seed", po::value<int64_t>(), "seed of the synthetic noise draw (default 1)");
  auto session = PipelineSession::open(
      "ablation",
      "Train every ablation variant and baseline on the target train split (synthetic noise on the clean labels or "
      "the source model's pseudo labels), select on val, report test Dice/Jaccard over seeds as Markdown.",
      cli, args, {}, "ablation");
  if (!session) return 0;
  const auto& vm = session->values;
  auto get = [&](const std::string& key, auto fallback) {
    using T = decltype(fallback);
    return vm.count(key) ? vm[key].template as<T>() : fallback;
  };
  AblationOptions o;
  o.noise = get("noise", d.noise);
  o.seeds = get("seeds", d.seeds);
  if (vm.count("variants")) o.variants = split_list(get("variants", std::string()));
  o.out = get("out", d.out);
  o.ellipse_rate = get("ellipse-rate", d.ellipse_rate);
  o.symmetric_rate = get("symmetric-rate", d.symmetric_rate);
  o.asymmetric_rate = get("asymmetric-rate", d.asymmetric_rate);
  o.unit = get("unit", d.unit);
  o.noise_seed = get("noise-seed", d.noise_seed);
  o.quick = vm["quick"].as<bool>();

  auto t0 = std::chrono::steady_clock::now();
  Ablation ablation(*session->plan, o);
  log::info("work directory {}", session->context->workdir().string());
  ablation.prepare();
  auto runs = ablation.run_all();
  auto rates = ablation.noise_rates();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string md = ablation.markdown(runs, rates, seconds);
  const auto path = ablation.report_path();
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  {
    const auto tmp = std::filesystem::path(path.string() + ".tmp");
    std::ofstream f(tmp);
    f << md;
    if (!f.good()) throw UserError("cannot write " + tmp.string());
    f.close();
    std::filesystem::rename(tmp, path);
  }
  log::info("ablation: {} run(s) in {}; report {}", runs.size(), format_duration(seconds), path.string());
  std::printf("%s", md.c_str());
  return 0;
}

}  // namespace jcas::commands
