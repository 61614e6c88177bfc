#include "pipeline/runner/stage.h"

#include <fmt/format.h>

namespace jcas {

std::string StageKey::label() const { return fmt::format("{}[{}]", name, round); }

StageContext::StageContext(OptionValues values, RunOptions run, ExecutionContext execution)
    : values_(std::move(values)),
      run_(std::move(run)),
      execution_(execution),
      workdir_(run_.workdir),
      digests_(std::make_unique<FileDigests>(workdir_ / ".jcas" / "digests.tsv")) {}

std::filesystem::path StageContext::round_dir(int round) const { return workdir_ / fmt::format("round-{}", round); }

std::filesystem::path StageContext::result_path(const StageKey& key) const {
  if (key.name == "data" || key.name == "source") return workdir_ / (key.name + ".h5");
  return round_dir(key.round) / (key.name + ".h5");
}

std::filesystem::path StageContext::checkpoint_path(const StageKey& key) const {
  auto p = result_path(key);
  p.replace_extension(".checkpoint.h5");
  return p;
}

}  // namespace jcas
