#pragma once
// The record every stage result carries as attributes of its HDF5 file: which stage and round
// produced it, the fingerprint that decides whether it is still valid, the options it was run
// with, its inputs' fingerprints, timings and the toolkit version.
#include <filesystem>
#include <map>
#include <string>

namespace jcas {

class H5Writer;

constexpr int kCacheFormatVersion = 1;

// 64-bit FNV-1a of `text` as 16 hex digits: stable across platforms and runs.
std::string hash_text(const std::string& text);

struct StageRecord {
  std::string stage;
  int round = 0;
  std::string fingerprint;
  std::string options_json;  // the options that affect the result
  std::string inputs_json;   // {"stage[round]": fingerprint}
  double seconds = 0;
  std::map<std::string, double> metrics;  // headline figures (noise rates, test mJac, ...)
  std::string version;
  int64_t format_version = kCacheFormatVersion;
};

void write_record(H5Writer& out, const StageRecord& record);

// Reads and validates the record of a result file. Throws UserError naming the file when it is
// missing, truncated, foreign (not written by jcas) or of another format version.
StageRecord read_record(const std::filesystem::path& path);

std::string metrics_to_json(const std::map<std::string, double>& metrics);

}  // namespace jcas
