#pragma once
// Every option of a pipeline, gathered from the run's own options and the options struct of each
// of its stages: the one table that `jcas run/stage/status` declare, that configs/quickstart.ini
// mirrors (checked by a test) and that `jcas options` prints.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "adapters/foundation/option_binder.h"
#include "pipeline/runner/stage.h"

namespace jcas {

class OptionSchema {
 public:
  explicit OptionSchema(const std::vector<std::unique_ptr<Stage>>& stages);
  OptionSchema(const OptionSchema&) = delete;
  OptionSchema& operator=(const OptionSchema&) = delete;

  // Run options first, then each stage's, one binding per key.
  const std::vector<OptionBinding>& bindings() const { return bindings_; }
  // The defaults with `overrides` (key -> text) applied; UserError for an unknown key or a bad value.
  OptionValues defaults(const std::map<std::string, std::string>& overrides = {}) const;

 private:
  std::unique_ptr<BoundOptionsBase> run_;
  std::vector<std::unique_ptr<BoundOptionsBase>> stages_;  // the default structs the bindings point into
  std::vector<OptionBinding> bindings_;
};

}  // namespace jcas
