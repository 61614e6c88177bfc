#include <cstdio>

#include "adapters/io/h5_store.h"
#include "pipeline/cache/stage_record.h"
#include "adapters/foundation/error.h"
#include "adapters/foundation/options.h"
#include "tools/jcas/commands.h"

namespace jcas::commands {
namespace {

std::string attr_text(const H5Attr& a) {
  if (auto s = std::get_if<std::string>(&a)) return *s;
  if (auto i = std::get_if<int64_t>(&a)) return std::to_string(*i);
  if (auto d = std::get_if<double>(&a)) return fmt::format("{}", *d);
  if (auto v = std::get_if<std::vector<double>>(&a)) return fmt::format("[{}]", fmt::join(*v, ", "));
  if (auto v = std::get_if<std::vector<int64_t>>(&a)) return fmt::format("[{}]", fmt::join(*v, ", "));
  return "?";
}

// Datasets (recursively) with shape and dtype; groups with many members (model weights) are summarised.
void list_datasets(const H5Reader& in, const std::string& group, int depth) {
  auto names = in.list(group);
  for (const auto& name : names) {
    std::string path = group == "/" ? name : group + "/" + name;
    if (in.is_group(path)) {
      auto members = in.list(path);
      std::printf("%*s%s/  (%zu members)\n", 2 * depth + 2, "", name.c_str(), members.size());
      if (members.size() <= 12) list_datasets(in, path, depth + 1);
      continue;
    }
    auto [shape, dtype] = in.describe(path);
    std::string axes = in.has_attr(path, "axes") ? "  " + in.attr_string(path, "axes") : "";
    std::printf("%*s%-28s %-8s [%s]%s\n", 2 * depth + 2, "", name.c_str(), dtype.c_str(),
                fmt::format("{}", fmt::join(shape, ", ")).c_str(), axes.c_str());
  }
}

}  // namespace

int inspect(const Args& args) {
  po::options_description desc("inspect");
  desc.add_options()("file", po::value<std::string>(), "a stage result (.h5) of a jcas work directory");
  add_threads_option(desc);
  auto parsed = parse_options("inspect", "List a cache file's stage, fingerprint, options, datasets and figures.",
                              desc, args, {"file"});
  if (parsed.help) return 0;
  apply_threads_option(parsed.values);
  std::string path = require<std::string>(parsed.values, "file");
  StageRecord r = read_record(path);  // validates: a foreign or truncated file is a clear error
  H5Reader in(path);
  std::printf("%s\n  stage        %s[%d]\n  fingerprint  %s\n  written by   jcas %s (cache format %lld)\n"
              "  wall time    %.2f s\n  inputs       %s\n  options      %s\n",
              path.c_str(), r.stage.c_str(), r.round, r.fingerprint.c_str(), r.version.c_str(),
              static_cast<long long>(r.format_version), r.seconds, r.inputs.dump().c_str(), r.options.dump().c_str());
  if (!r.metrics.empty()) {
    std::printf("  figures\n");
    for (const auto& [k, v] : r.metrics) std::printf("    %-24s %.6g\n", k.c_str(), v);
  }
  std::printf("  attributes\n");
  for (const auto& name : in.attr_names("/")) {
    if (name.rfind("jcas_", 0) == 0 || name.rfind("metric", 0) == 0 || name == "options" || name == "inputs" ||
        name == "seconds")
      continue;
    std::string text = attr_text(in.attr("/", name));
    if (text.size() > 100) text = text.substr(0, 97) + "...";
    for (auto& c : text)
      if (c == '\n') c = ' ';
    std::printf("    %-24s %s\n", name.c_str(), text.c_str());
  }
  std::printf("  datasets\n");
  list_datasets(in, "/", 1);
  return 0;
}

}  // namespace jcas::commands
