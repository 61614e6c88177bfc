#include "pipeline/runner/status_report.h"

#include <fmt/format.h>

#include "pipeline/cache/stage_record.h"
#include "adapters/foundation/progress.h"

namespace jcas {

std::string status_table(const PipelinePlan& plan, const std::vector<std::pair<std::string, std::string>>& columns) {
  std::string out = fmt::format("{:<6} {:<23} {:<8} {:>8}", "round", "stage", "state", "time");
  for (const auto& [key, title] : columns) out += fmt::format(" {:>11}", title);
  out += "\n";
  for (const auto& p : plan.stages()) {
    CacheStatus s = plan.status(*p);
    const Metrics metrics = s.record ? s.record->metrics : Metrics{};
    out += fmt::format("{:<6} {:<23} {:<8} {:>8}", p->key.round, p->key.name, state_name(s.state),
                       s.record ? format_duration(s.record->seconds) : "-");
    for (const auto& [key, title] : columns) {
      auto it = metrics.find(key);
      out += it == metrics.end() ? fmt::format(" {:>11}", "") : fmt::format(" {:>11.4f}", it->second);
    }
    if (s.state == CacheState::stale) out += "  (" + s.reason + ")";
    out += "\n";
  }
  return out;
}

std::string status_json(const PipelinePlan& plan) {
  nlohmann::json stages = nlohmann::json::array();
  for (const auto& p : plan.stages()) {
    CacheStatus s = plan.status(*p);
    stages.push_back({{"round", p->key.round},
                      {"stage", p->key.name},
                      {"state", state_name(s.state)},
                      {"seconds", s.record ? s.record->seconds : 0.0},
                      {"threads", s.record ? s.record->threads : 0},
                      {"metrics", metrics_json(s.record ? s.record->metrics : Metrics{})}});
  }
  return nlohmann::json{{"stages", stages}}.dump();
}

}  // namespace jcas
