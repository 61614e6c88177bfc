#pragma once
// Every option of the adaptation pipeline, declared once. `jcas run`, `jcas stage` and
// `jcas status` all accept them (command line or INI); configs/quickstart.ini holds the same
// values as the built-in defaults, so `jcas run` without --config runs the quickstart.
#include <boost/program_options.hpp>
#include <map>
#include <string>
#include <vector>

namespace jcas {

void declare_pipeline_options(boost::program_options::options_description& desc);

// The resolved option values as canonical strings, keyed like the command line ("retrain.epochs").
class PipelineConfig {
 public:
  static PipelineConfig from(const boost::program_options::variables_map& vm);
  // For tests and tools: defaults overridden by `overrides` (key -> value text).
  static PipelineConfig with_defaults(const std::map<std::string, std::string>& overrides = {});

  const std::string& text(const std::string& key) const;
  int integer(const std::string& key) const;
  double number(const std::string& key) const;
  bool flag(const std::string& key) const;
  std::pair<int, int> size(const std::string& key) const;
  // "key=value" lines for the given keys (a key ending in '.' selects a whole section), sorted.
  std::string canonical(const std::vector<std::string>& keys) const;
  // The same selection as a JSON object, recorded next to each stage result.
  std::string json(const std::vector<std::string>& keys) const;
  const std::map<std::string, std::string>& values() const { return values_; }

 private:
  std::vector<std::string> select(const std::vector<std::string>& keys) const;
  std::map<std::string, std::string> values_;
};

}  // namespace jcas
