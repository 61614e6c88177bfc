#include "pipeline/runner/stage.h"

#include <fmt/format.h>

#include <algorithm>

namespace jcas {

std::string StageKey::label() const { return fmt::format("{}[{}]", name, round); }

StageContext::StageContext(OptionValues values, RunOptions run, ExecutionContext execution,
                           const std::vector<std::unique_ptr<Stage>>& stages)
    : values_(std::move(values)),
      run_(std::move(run)),
      execution_(execution),
      workdir_(run_.workdir),
      // Rank 0 alone keeps the memo: the other ranks of a data-parallel run write nothing.
      digests_(std::make_unique<FileDigests>(execution_.is_writer() ? workdir_ / ".jcas" / "digests.tsv"
                                                                    : std::filesystem::path())) {
  for (const auto& s : stages)
    if (s->result_in_workdir()) in_workdir_.push_back(s->name());
}

std::filesystem::path StageContext::round_dir(int round) const { return workdir_ / fmt::format("round-{}", round); }

std::filesystem::path StageContext::result_path(const StageKey& key) const {
  if (std::find(in_workdir_.begin(), in_workdir_.end(), key.name) != in_workdir_.end())
    return workdir_ / (key.name + ".h5");
  return round_dir(key.round) / (key.name + ".h5");
}

std::filesystem::path StageContext::checkpoint_path(const StageKey& key) const {
  auto p = result_path(key);
  p.replace_extension(".checkpoint.h5");
  return p;
}

}  // namespace jcas
