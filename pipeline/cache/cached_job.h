#pragma once
// The cache engine. A cached job is one computation whose result is one HDF5 file carrying the
// fingerprint of everything that decides it: its options' canonical text and its inputs'
// fingerprints. A file whose record matches is reused; anything else is recomputed into a
// temporary file that is renamed into place only when complete. The pipeline's stages and the
// ablation's runs are both clients of this one engine.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "pipeline/cache/stage_record.h"

namespace jcas {

class H5Writer;

struct CachedJob {
  std::string stage;  // recorded name ("retrain", "ablation")
  int round = 0;
  std::string label;  // for messages: "retrain[1]", "ellipse/jcas seed 0"
  std::filesystem::path path;
  std::string fingerprint;  // from job_fingerprint()
  nlohmann::json options = nlohmann::json::object();  // recorded next to the result
  nlohmann::json inputs = nlohmann::json::object();   // input label -> its fingerprint
  // Writes the result's datasets; returns its headline figures. The engine adds the record.
  std::function<Metrics(H5Writer&)> compute;
};

// Hash of the job's identity, its options' canonical text, its inputs' fingerprints (by label)
// and the cache format version.
std::string job_fingerprint(const std::string& stage, int round, const std::string& options_text,
                            const nlohmann::json& inputs);

enum class CacheState { done, stale, missing };
const char* state_name(CacheState s);

struct CacheStatus {
  CacheState state = CacheState::missing;
  std::string reason;  // why stale: options/inputs changed, unreadable file, ...
  std::optional<StageRecord> record;  // when the file has a readable record
};

CacheStatus cache_status(const CachedJob& job);
// Computes the job, writes its record and commits the file (`commit` false: a process that is
// not the writer computes in memory and leaves the file to the writer). Returns the record.
StageRecord run_job(const CachedJob& job, bool commit = true);
// The cached record when the job is done, otherwise the record of a fresh run.
StageRecord cached_or_run(const CachedJob& job, bool commit = true);

}  // namespace jcas
