#include "pipeline/runner/option_schema.h"

#include <fmt/format.h>

#include "adapters/foundation/error.h"

namespace jcas {

OptionSchema::OptionSchema(const std::vector<std::unique_ptr<Stage>>& stages)
    : run_(std::make_unique<BoundOptions<RunOptions>>(OptionValues{})) {
  std::vector<OptionBinding> all = run_->bindings();
  for (const auto& s : stages) {
    stages_.push_back(s->bind_options(OptionValues{}));
    const auto& b = stages_.back()->bindings();
    all.insert(all.end(), b.begin(), b.end());
  }
  bindings_ = unique_bindings(all);
}

OptionValues OptionSchema::defaults(const std::map<std::string, std::string>& overrides) const {
  OptionValues values;
  for (const auto& b : bindings_) values.set(b.key, b.default_text);
  for (const auto& [key, text] : overrides) {
    auto it = std::find_if(bindings_.begin(), bindings_.end(), [&](const OptionBinding& b) { return b.key == key; });
    if (it == bindings_.end()) throw UserError(fmt::format("unknown pipeline option '{}'", key));
    values.set(key, canonical_value(*it, text));
  }
  return values;
}

}  // namespace jcas
