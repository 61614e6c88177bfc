#include "pipeline/cache/cached_job.h"

#include <fmt/format.h>

#include <chrono>

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
      s.reason = "options or inputs changed";
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
  std::filesystem::create_directories(job.path.parent_path());
  H5Writer out(job.path);
  StageRecord record;
  record.metrics = job.compute(out);
  record.stage = job.stage;
  record.round = job.round;
  record.fingerprint = job.fingerprint;
  record.options = job.options;
  record.inputs = job.inputs;
  record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
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
