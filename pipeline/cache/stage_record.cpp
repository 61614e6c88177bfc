#include "pipeline/cache/stage_record.h"

#include <fmt/format.h>

#include <cmath>

#include "adapters/foundation/error.h"
#include "adapters/io/h5_store.h"
#include "jcas_version.h"

namespace jcas {

std::string hash_text(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return fmt::format("{:016x}", h);
}

nlohmann::json metrics_json(const Metrics& metrics) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : metrics) j[k] = std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
  return j;
}

void write_record(H5Writer& out, const StageRecord& r) {
  out.attr("/", "jcas_stage", r.stage);
  out.attr("/", "jcas_round", int64_t{r.round});
  out.attr("/", "jcas_fingerprint", r.fingerprint);
  out.attr("/", "jcas_format_version", int64_t{kCacheFormatVersion});
  out.attr("/", "jcas_version", std::string(JCAS_VERSION));
  out.attr("/", "options", r.options.dump());
  out.attr("/", "inputs", r.inputs.dump());
  out.attr("/", "seconds", r.seconds);
  out.attr("/", "threads", int64_t{r.threads});
  out.attr("/", "metrics", metrics_json(r.metrics).dump());
  for (const auto& [k, v] : r.metrics) out.attr("/", "metric." + k, v);
}

StageRecord read_record(const std::filesystem::path& path) {
  H5Reader in(path);  // throws for missing / truncated / not HDF5
  if (!in.has_attr("/", "jcas_stage") || !in.has_attr("/", "jcas_fingerprint"))
    throw UserError(fmt::format("{}: not a jcas stage result (no jcas_stage/jcas_fingerprint attributes)", path.string()));
  StageRecord r;
  r.stage = in.attr_string("/", "jcas_stage");
  r.round = static_cast<int>(in.attr_int("/", "jcas_round"));
  r.fingerprint = in.attr_string("/", "jcas_fingerprint");
  r.format_version = in.attr_int("/", "jcas_format_version");
  if (r.format_version != kCacheFormatVersion)
    throw UserError(fmt::format("{}: cache format version {} (this jcas writes {})", path.string(), r.format_version,
                                kCacheFormatVersion));
  r.version = in.attr_string("/", "jcas_version");
  try {
    r.options = nlohmann::json::parse(in.attr_string("/", "options"));
    r.inputs = nlohmann::json::parse(in.attr_string("/", "inputs"));
  } catch (const nlohmann::json::exception& e) {
    throw UserError(fmt::format("{}: unreadable options/inputs record ({})", path.string(), e.what()));
  }
  r.seconds = in.attr_double("/", "seconds");
  if (in.has_attr("/", "threads")) r.threads = static_cast<int>(in.attr_int("/", "threads"));
  for (const auto& name : in.attr_names("/"))
    if (name.rfind("metric.", 0) == 0) r.metrics[name.substr(7)] = in.attr_double("/", name);
  return r;
}

}  // namespace jcas
