#include "adapters/foundation/temporary_path.h"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <string>
#include <vector>

namespace jcas {
namespace fs = std::filesystem;

namespace {

// This host's name as it appears in temporary names: letters, digits, '-' and '_' only (a dot
// would end the name's host part).
const std::string& host_tag() {
  static const std::string tag = [] {
    char name[256] = {};
    if (gethostname(name, sizeof name - 1) != 0 || !name[0]) return std::string("host");
    std::string t;
    for (const char* c = name; *c; ++c) t += std::isalnum(static_cast<unsigned char>(*c)) || *c == '-' ? *c : '_';
    return t;
  }();
  return tag;
}

}  // namespace

fs::path temporary_path(const fs::path& final_path) {
  return fs::path(final_path.string() + fmt::format(".{}-{}.tmp", host_tag(), static_cast<long>(getpid())));
}

TemporaryPath::TemporaryPath(fs::path final_path) : final_(std::move(final_path)), tmp_(temporary_path(final_)) {
  std::error_code ec;
  fs::remove_all(tmp_, ec);
}

TemporaryPath::~TemporaryPath() {
  if (committed_) return;
  std::error_code ec;
  fs::remove_all(tmp_, ec);
}

void TemporaryPath::commit() {
  if (fs::is_directory(tmp_)) fs::remove_all(final_);  // a file is replaced atomically by the rename
  fs::rename(tmp_, final_);
  committed_ = true;
}

namespace {

// The writer of a temporary: "<final>.<host>-<pid>.tmp", "<final>.<pid>.tmp" (this host's), or
// pid 0 for the unnamed form "<final>.tmp".
struct Writer {
  std::string host;
  long pid = 0;
};
Writer writer_of(const std::string& name) {
  const std::string stem = name.substr(0, name.size() - 4);  // without ".tmp"
  auto dot = stem.rfind('.');
  if (dot == std::string::npos) return {host_tag(), 0};
  const std::string tag = stem.substr(dot + 1);
  const auto dash = tag.rfind('-');
  const std::string host = dash == std::string::npos ? host_tag() : tag.substr(0, dash);
  const std::string digits = dash == std::string::npos ? tag : tag.substr(dash + 1);
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) return {host_tag(), 0};
  return {host, std::stol(digits)};
}

bool running(long pid) { return pid > 0 && (kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM); }

}  // namespace

int remove_stale_temporaries(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return 0;
  std::vector<fs::path> stale;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= 4 || name.compare(name.size() - 4, 4, ".tmp") != 0) continue;
    if (it->is_directory()) it.disable_recursion_pending();
    const Writer writer = writer_of(name);
    if (writer.host == host_tag() && writer.pid != static_cast<long>(getpid()) && !running(writer.pid))
      stale.push_back(it->path());
  }
  for (const auto& p : stale) fs::remove_all(p, ec);
  return static_cast<int>(stale.size());
}

}  // namespace jcas
