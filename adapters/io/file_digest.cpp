#include "adapters/io/file_digest.h"

#include <fmt/format.h>
#include <xxhash.h>

#include <fstream>
#include <sstream>

#include "adapters/foundation/temporary_path.h"

namespace jcas {
namespace fs = std::filesystem;

namespace {

std::string hash_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return "unreadable";
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    XXH3_64bits_update(state, buffer.data(), static_cast<size_t>(in.gcount()));
  }
  const uint64_t h = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  return fmt::format("{:016x}", h);
}

}  // namespace

FileDigests::FileDigests(fs::path table) : table_(std::move(table)) {
  if (table_.empty()) return;
  std::ifstream in(table_);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    Entry e;
    std::string path;
    if (fields >> e.digest >> e.size >> e.mtime && std::getline(fields >> std::ws, path)) memo_[path] = e;
  }
}

FileDigests::~FileDigests() {
  try {
    save();
  } catch (...) {
  }
}

std::string FileDigests::digest(const fs::path& file) {
  std::error_code ec;
  const auto status = fs::status(file, ec);
  if (ec || !fs::is_regular_file(status)) return "missing";
  const uintmax_t size = fs::file_size(file, ec);
  const int64_t mtime = fs::last_write_time(file, ec).time_since_epoch().count();
  const std::string key = fs::absolute(file).lexically_normal().string();
  auto it = memo_.find(key);
  if (it != memo_.end() && it->second.size == size && it->second.mtime == mtime) return it->second.digest;
  Entry e{size, mtime, hash_file(file)};
  memo_[key] = e;
  dirty_ = true;
  return e.digest;
}

std::string FileDigests::combined(const fs::path& root, const std::vector<fs::path>& files) {
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  for (const auto& f : files) {
    const std::string line = fs::path(f).lexically_relative(root).generic_string() + "=" + digest(f) + "\n";
    XXH3_64bits_update(state, line.data(), line.size());
  }
  const uint64_t h = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  return fmt::format("{:016x}", h);
}

void FileDigests::save() {
  // Only where the folder above the table exists (a reader never creates a work directory).
  if (!dirty_ || table_.empty() || !fs::is_directory(table_.parent_path().parent_path())) return;
  fs::create_directories(table_.parent_path());
  TemporaryPath tmp(table_);
  {
    std::ofstream out(tmp.path());
    for (const auto& [path, e] : memo_) out << e.digest << ' ' << e.size << ' ' << e.mtime << ' ' << path << '\n';
    if (!out) return;
  }
  tmp.commit();
  dirty_ = false;
}

}  // namespace jcas
