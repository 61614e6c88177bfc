#pragma once
// The record every cached result carries as attributes of its HDF5 file: which stage and round
// produced it, the fingerprint that decides whether it is still valid, the options it was run
// with, its inputs' fingerprints, timings and the toolkit version.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <string>

namespace jcas {

class H5Writer;

constexpr int kCacheFormatVersion = 2;

// Headline figures of a result (noise rates, test mJac, ...).
using Metrics = std::map<std::string, double>;

// 64-bit FNV-1a of `text` as 16 hex digits: stable across platforms and runs.
std::string hash_text(const std::string& text);

struct StageRecord {
  std::string stage;
  int round = 0;
  std::string fingerprint;
  nlohmann::json options = nlohmann::json::object();  // the options that affect the result
  nlohmann::json inputs = nlohmann::json::object();   // {"stage[round]": fingerprint}
  double seconds = 0;
  int threads = 0;  // intra-op CPU threads it ran with (0: not recorded, an older file)
  Metrics metrics;
  std::string version;
  int64_t format_version = kCacheFormatVersion;
};

void write_record(H5Writer& out, const StageRecord& record);

// Reads and validates the record of a result file. Throws UserError naming the file when it is
// missing, truncated, foreign (not written by jcas) or of another format version.
StageRecord read_record(const std::filesystem::path& path);

// Metrics as a JSON object (non-finite values as null).
nlohmann::json metrics_json(const Metrics& metrics);

}  // namespace jcas
