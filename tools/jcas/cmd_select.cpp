// `jcas select`: ranks the models of one or more work directories (the source model and every
// round's) by a label-free criterion and says which to export. The test scores, where the target
// is labelled, are shown beside it to compare and never used to choose.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "adapters/foundation/error.h"
#include "adapters/foundation/log.h"
#include "pipeline/metrics/label_free_criteria.h"
#include "tools/jcas/commands.h"
#include "tools/jcas/model_selection.h"
#include "tools/jcas/pipeline_session.h"

namespace jcas::commands {
namespace {

std::string model_name(int round) { return round == 0 ? "source" : fmt::format("round {}", round); }

std::string cell(double v) { return std::isnan(v) ? "–" : fmt::format("{:.4f}", v); }

std::string table(const std::vector<ModelCandidate>& candidates, const std::string& criterion, bool with_runs) {
  std::string out = with_runs ? "| run | model |" : "| model |";
  std::string rule = with_runs ? "| --- | --- |" : "| --- |";
  for (const auto& c : label_free_criteria()) {
    out += fmt::format(" {}{} |", c.name, c.name == criterion ? " (chosen by)" : "");
    rule += " --: |";
  }
  out += " test mJac* |\n" + rule + " --: |\n";
  for (const auto& m : candidates) {
    out += with_runs ? fmt::format("| {} | {} |", m.workdir.string(), model_name(m.round))
                     : fmt::format("| {} |", model_name(m.round));
    for (const auto& c : label_free_criteria()) out += " " + cell(criterion_value(m, c.name)) + " |";
    out += " " + cell(m.test_mjac) + " |\n";
  }
  return out;
}

nlohmann::json as_json(const ModelCandidate& m) {
  nlohmann::json criteria = nlohmann::json::object();
  for (const auto& c : label_free_criteria()) {
    const double v = criterion_value(m, c.name);
    criteria[c.name] = std::isnan(v) ? nlohmann::json() : nlohmann::json(v);
  }
  return {{"workdir", m.workdir.string()},
          {"round", m.round},
          {"criteria", criteria},
          {"test_mjac", std::isnan(m.test_mjac) ? nlohmann::json() : nlohmann::json(m.test_mjac)}};
}

}  // namespace

int select(const Args& args) {
  po::options_description desc("select");
  desc.add_options()("runs", po::value<std::vector<std::string>>()->multitoken(),
                     "work directories whose models compete (default: --workdir)")(
      "workdir", po::value<std::string>()->default_value("work"), "the work directory, when no runs are named")(
      "criterion", po::value<std::string>()->default_value(kDefaultCriterion),
      "the label-free criterion that chooses (higher is better; see README: Choosing without labels)")(
      "json", po::bool_switch(), "print one JSON object instead of the table");
  add_threads_option(desc);
  const auto parsed = parse_options("select",
                                    "Rank the models of work directories by a label-free criterion and name the one "
                                    "to export.",
                                    desc, args, {"runs"});
  if (parsed.help) return 0;
  apply_threads_option(parsed.values);
  const auto& vm = parsed.values;
  const std::string criterion = vm["criterion"].as<std::string>();
  check_criterion(criterion, "--criterion");
  const auto runs = vm.count("runs") ? vm["runs"].as<std::vector<std::string>>()
                                     : std::vector<std::string>{vm["workdir"].as<std::string>()};
  std::vector<ModelCandidate> candidates;
  for (const auto& run : runs) {
    if (!std::filesystem::is_directory(run)) throw UserError(fmt::format("{}: no such work directory", run));
    const auto session =
        PipelineSession::open("select", "", po::options_description(),
                              {"--workdir", run, "--quiet", "--threads", std::to_string(vm["threads"].as<int>())},
                              WorkdirAccess::read);
    for (auto& c : model_candidates(*session)) candidates.push_back(std::move(c));
  }
  if (candidates.empty())
    throw UserError(fmt::format("no model in {} has its label-free criteria computed: run `jcas run` (with "
                                "--criteria.enabled true) first",
                                fmt::join(runs, ", ")));
  const ModelCandidate* best = best_candidate(candidates, criterion);
  if (vm["json"].as<bool>()) {
    nlohmann::json all = nlohmann::json::array();
    for (const auto& c : candidates) all.push_back(as_json(c));
    nlohmann::json j = {{"criterion", criterion}, {"candidates", all}};
    j["chosen"] = best ? as_json(*best) : nlohmann::json();
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("%s\n* the target's test labels where it has them: shown to compare, never used to choose.\n\n",
              table(candidates, criterion, runs.size() > 1).c_str());
  if (!best) throw UserError(fmt::format("no model has a value of '{}' (e.g. dar_agreement needs a DAR read-out)", criterion));
  std::printf("Chosen by %s: %s of %s. Export it with\n  jcas export --workdir %s --model %d --out model.pt\n",
              criterion.c_str(), best->round == 0 ? "the source model" : fmt::format("the model after {} round(s)", best->round).c_str(),
              best->workdir.string().c_str(), best->workdir.string().c_str(), best->round);
  return 0;
}

}  // namespace jcas::commands
