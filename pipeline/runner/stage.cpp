#include "pipeline/runner/stage.h"

#include <fmt/format.h>

#include "pipeline/core/error.h"

namespace jcas {

std::string StageKey::label() const { return fmt::format("{}[{}]", name, round); }

StageContext::StageContext(PipelineConfig config, std::filesystem::path workdir)
    : config_(std::move(config)), workdir_(std::move(workdir)) {}

std::filesystem::path StageContext::round_dir(int round) const {
  return workdir_ / fmt::format("round-{}", round);
}

std::filesystem::path StageContext::result_path(const StageKey& key) const {
  if (key.name == "data" || key.name == "source") return workdir_ / (key.name + ".h5");
  return round_dir(key.round) / (key.name + ".h5");
}

std::filesystem::path StageContext::checkpoint_path(const StageKey& key) const {
  auto p = result_path(key);
  p.replace_extension(".checkpoint.h5");
  return p;
}

bool StageContext::uses_synthetic_data() const {
  return config_.text("data.source").empty() || config_.text("data.target").empty();
}

std::filesystem::path StageContext::source_root() const {
  const auto& s = config_.text("data.source");
  return s.empty() ? workdir_ / "data" / "source" : std::filesystem::path(s);
}

std::filesystem::path StageContext::target_root() const {
  const auto& t = config_.text("data.target");
  return t.empty() ? workdir_ / "data" / "target" : std::filesystem::path(t);
}

std::vector<StageKey> with_data_input(const StageContext& ctx, std::vector<StageKey> inputs) {
  if (ctx.uses_synthetic_data()) inputs.insert(inputs.begin(), StageKey{"data", 0});
  return inputs;
}

std::string StageContext::device() const {
  const auto& d = config_.text("device");
  if (d != "cpu" && d != "cuda") throw UserError(fmt::format("--device: expected cpu or cuda, got '{}'", d));
  return d;
}

}  // namespace jcas
