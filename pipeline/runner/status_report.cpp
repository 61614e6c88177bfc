#include "pipeline/runner/status_report.h"

#include <fmt/format.h>

#include "pipeline/cache/stage_record.h"
#include "pipeline/core/progress.h"

namespace jcas {
namespace {

// The figures worth a column, in the order shown.
const std::vector<std::pair<std::string, std::string>> kColumns = {
    {"class_noise_rate", "class noise"},   {"affinity_noise_rate", "aff. noise"}, {"estimation_error", "T_C err"},
    {"test_mjac", "test mJac"},            {"test_mdice", "test mDice"},         {"final_loss", "loss"},
};

}  // namespace

std::string status_table(const PipelinePlan& plan) {
  std::string out = fmt::format("{:<6} {:<16} {:<8} {:>8}", "round", "stage", "state", "time");
  for (const auto& [key, title] : kColumns) out += fmt::format(" {:>11}", title);
  out += "\n";
  for (const auto& p : plan.stages()) {
    StageStatus s = plan.status(p);
    out += fmt::format("{:<6} {:<16} {:<8} {:>8}", p.key.round, p.key.name, state_name(s.state),
                       s.state == StageState::missing ? "-" : format_duration(s.seconds));
    for (const auto& [key, title] : kColumns) {
      auto it = s.metrics.find(key);
      out += it == s.metrics.end() ? fmt::format(" {:>11}", "") : fmt::format(" {:>11.4f}", it->second);
    }
    if (s.state == StageState::stale) out += "  (" + s.reason + ")";
    out += "\n";
  }
  return out;
}

std::string status_json(const PipelinePlan& plan) {
  std::string out = "{\"stages\": [";
  bool first = true;
  for (const auto& p : plan.stages()) {
    StageStatus s = plan.status(p);
    out += fmt::format("{}{{\"round\": {}, \"stage\": \"{}\", \"state\": \"{}\", \"seconds\": {}, \"metrics\": {}}}",
                       first ? "" : ", ", p.key.round, p.key.name, state_name(s.state), s.seconds,
                       metrics_to_json(s.metrics));
    first = false;
  }
  return out + "]}";
}

}  // namespace jcas
