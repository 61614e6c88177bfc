#include "pipeline/cache/cached_job.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <set>
#include <vector>

#include "adapters/foundation/error.h"
#include "adapters/io/h5_store.h"

namespace jcas {

const char* state_name(CacheState s) {
  switch (s) {
    case CacheState::done: return "done";
    case CacheState::stale: return "stale";
    case CacheState::missing: return "missing";
  }
  return "?";
}

std::string job_fingerprint(const std::string& stage, int round, const std::string& options_text,
                            const nlohmann::json& inputs) {
  std::string text = fmt::format("stage={}\nround={}\nformat={}\n", stage, round, kCacheFormatVersion);
  text += options_text;
  for (const auto& [label, fingerprint] : inputs.items())
    text += fmt::format("input {}={}\n", label, fingerprint.get<std::string>());
  return hash_text(text);
}

namespace {

// "options changed: a 1 -> 2; input changed: retrain[0]; contents changed: ...", from the record's
// options and inputs against the job's.
std::string what_changed(const StageRecord& r, const CachedJob& job) {
  std::vector<std::string> options, inputs;
  auto text = [](const nlohmann::json& j, const std::string& key) {
    if (!j.contains(key)) return std::string("(none)");
    return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
  };
  std::set<std::string> keys;
  for (const auto& [k, v] : job.options.items()) keys.insert(k);
  for (const auto& [k, v] : r.options.items()) keys.insert(k);
  for (const auto& k : keys)
    if (text(r.options, k) != text(job.options, k))
      options.push_back(fmt::format("{} {} -> {}", k, text(r.options, k), text(job.options, k)));
  keys.clear();
  for (const auto& [k, v] : job.inputs.items()) keys.insert(k);
  for (const auto& [k, v] : r.inputs.items()) keys.insert(k);
  for (const auto& k : keys)
    if (text(r.inputs, k) != text(job.inputs, k)) inputs.push_back(k);
  std::vector<std::string> parts;
  if (!options.empty()) parts.push_back(fmt::format("options changed: {}", fmt::join(options, ", ")));
  if (!inputs.empty()) parts.push_back(fmt::format("inputs changed: {}", fmt::join(inputs, ", ")));
  if (parts.empty()) parts.push_back("options or inputs changed");  // same record, other fingerprint text
  return fmt::format("{}", fmt::join(parts, "; "));
}

}  // namespace

CacheStatus cache_status(const CachedJob& job) {
  CacheStatus s;
  if (!std::filesystem::exists(job.path)) return s;
  try {
    s.record = read_record(job.path);
    const StageRecord& r = *s.record;
    if (r.stage != job.stage || r.round != job.round) {
      s.state = CacheState::stale;
      s.reason = fmt::format("file holds {}[{}]", r.stage, r.round);
    } else if (r.fingerprint != job.fingerprint) {
      s.state = CacheState::stale;
      s.reason = what_changed(r, job);
    } else {
      s.state = CacheState::done;
    }
  } catch (const UserError& e) {
    s.state = CacheState::stale;
    s.reason = e.what();
  }
  return s;
}

StageRecord run_job(const CachedJob& job, bool commit) {
  auto t0 = std::chrono::steady_clock::now();
  H5Writer out(job.path, commit ? H5Writer::Target::file : H5Writer::Target::memory);
  StageRecord record;
  record.metrics = job.compute(out);
  record.stage = job.stage;
  record.round = job.round;
  record.fingerprint = job.fingerprint;
  record.options = job.options;
  record.inputs = job.inputs;
  record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  record.threads = at::get_num_threads();  // not in the fingerprint, but it moves float sums: stated
  write_record(out, record);
  if (commit) out.commit();
  return record;
}

StageRecord cached_or_run(const CachedJob& job, bool commit) {
  CacheStatus s = cache_status(job);
  if (s.state == CacheState::done) return *s.record;
  return run_job(job, commit);
}

}  // namespace jcas
