#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <set>

#include "adapters/foundation/error.h"
#include "adapters/foundation/log.h"
#include "adapters/foundation/progress.h"
#include "pipeline/runner/status_report.h"
#include "stages/stage_metrics.h"
#include "tools/jcas/commands.h"
#include "tools/jcas/local_workers.h"
#include "tools/jcas/model_selection.h"
#include "tools/jcas/pipeline_session.h"

namespace jcas::commands {
namespace {

// Takes `--rounds auto` out of the arguments (elsewhere --rounds is a number); true if it was there.
bool take_auto_rounds(Args& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--rounds" && i + 1 < args.size() && args[i + 1] == "auto") {
      args.erase(args.begin() + static_cast<std::ptrdiff_t>(i), args.begin() + static_cast<std::ptrdiff_t>(i) + 2);
      return true;
    }
    if (args[i] == "--rounds=auto") {
      args.erase(args.begin() + static_cast<std::ptrdiff_t>(i));
      return true;
    }
  }
  return false;
}

// One `jcas run` over the pipeline the arguments describe; nullptr after --help.
std::unique_ptr<PipelineSession> run_pipeline(const Args& args, bool auto_rounds) {
  po::options_description desc("run");
  desc.add_options()("force", po::value<std::vector<std::string>>()->composing(),
                     "re-run a stage even if cached: NAME (every round) or NAME[r]; repeatable")(
      "nproc", po::value<int>(),
      "start N local processes of a data-parallel run (Gloo over 127.0.0.1; README: Scaling out); under "
      "torchrun leave it out")(
      "nnodes", po::value<int>(), "with --nproc: the machines of the run, one launcher each (as torchrun)")(
      "node_rank", po::value<int>(), "with --nnodes: this machine's place, 0 hosting the rendezvous")(
      "master_addr", po::value<std::string>(), "with --nnodes: node 0's address, reachable from every node")(
      "master_port", po::value<int>(), "with --nnodes: the rendezvous port on node 0")(
      "max_rounds", po::value<int>()->default_value(5),
      "with --rounds auto: at most this many rounds")(
      "until", po::value<std::string>()->default_value(kDefaultCriterion),
      "with --rounds auto: add rounds while this label-free criterion of the newest model rises (README: Choosing "
      "without labels)");
  auto session = PipelineSession::open("run", "Run every stage that is missing or stale; skip what is cached.",
                                       desc, args, WorkdirAccess::write);
  if (!session) return nullptr;
  if (!auto_rounds && (!session->values["max_rounds"].defaulted() || !session->values["until"].defaulted()))
    throw UserError("--max_rounds and --until belong to --rounds auto");
  if (auto_rounds) {
    check_criterion(session->values["until"].as<std::string>(), "--until");
    const int most = session->values["max_rounds"].as<int>();
    if (most < 1 || most > 100) throw UserError(fmt::format("--max_rounds must be in 1..100, got {}", most));
  }
  std::set<std::string> force;
  if (session->values.count("force"))
    for (const auto& f : session->values["force"].as<std::vector<std::string>>()) force.insert(f);
  auto t0 = std::chrono::steady_clock::now();
  log::info("work directory {}", session->context->workdir().string());
  int ran = PipelineRunner(*session->plan).run_all(force);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  log::info("{} stage(s) run, {} total", ran, format_duration(seconds));
  return session;
}

// `--rounds auto`: rounds 1, 2, ... up to --max_rounds, each run as `--rounds r` (so the rounds
// before it come from the cache), stopping after the first round whose model does not raise the
// criterion above the model before it (round 0: the source model). The best model is named.
int run_auto_rounds(const Args& args) {
  std::unique_ptr<PipelineSession> session;
  std::string criterion;
  std::vector<ModelCandidate> candidates;  // the last run's models with their criteria
  for (int rounds = 1;; ++rounds) {
    Args with_rounds = args;
    with_rounds.insert(with_rounds.end(), {"--rounds", std::to_string(rounds)});
    session.reset();  // its work directory lock, before the next run takes it
    session = run_pipeline(with_rounds, true);
    if (!session) return 0;
    criterion = session->values["until"].as<std::string>();
    const int most = session->values["max_rounds"].as<int>();
    candidates = model_candidates(*session);
    auto value = [&](int round) {
      for (const auto& c : candidates)
        if (c.round == round) return criterion_value(c, criterion);
      throw UserError(fmt::format("--rounds auto: the model of round {} has no label-free criteria (is "
                                  "--criteria.enabled false?)",
                                  round));
    };
    const double before = value(rounds - 1), now = value(rounds);
    // Every rank reads the criteria rank 0 committed; rank 0's reading decides for all the same.
    std::vector<torch::Tensor> rose = {torch::tensor({static_cast<int64_t>(now > before)})};
    session->context->execution().broadcast_from_writer(rose);
    if (rose[0].item<int64_t>() == 0) {
      log::info("--rounds auto: round {} did not raise {} ({:.4f} -> {:.4f}): no further round", rounds, criterion,
                before, now);
      break;
    }
    if (rounds == most) {
      log::info("--rounds auto: {} rose to the last round allowed (--max_rounds {})", criterion, most);
      break;
    }
  }
  const ModelCandidate* best = best_candidate(candidates, criterion);
  if (best)
    log::info("the best model by {}: {} (export it with `jcas export --workdir {} --select {}`)", criterion,
              best->round == 0 ? "the source model" : fmt::format("the model after {} round(s)", best->round),
              session->context->workdir().string(), criterion);
  if (session->context->execution().is_writer())
    std::printf("%s", status_table(*session->plan, metric::status_columns()).c_str());
  return 0;
}

}  // namespace

int run(const Args& given) {
  Args args = given;
  if (auto launch = take_launch_options(args)) return run_local_workers(*launch, "run", args);
  if (take_auto_rounds(args)) return run_auto_rounds(args);
  auto session = run_pipeline(args, false);
  if (session && session->context->execution().is_writer())
    if (session->context->execution().is_writer())
    std::printf("%s", status_table(*session->plan, metric::status_columns()).c_str());
  return 0;
}

}  // namespace jcas::commands
