#include "adapters/foundation/log.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <mutex>

namespace jcas::log {
namespace {
Level g_level = Level::info;
std::string g_prefix;
std::unique_ptr<std::ofstream> g_file;
std::mutex g_mutex;

std::string stamp(const char* format) {
  std::time_t now = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof text, format, std::localtime(&now));
  return text;
}
}  // namespace

void set_level(Level l) { g_level = l; }
void set_prefix(const std::string& prefix) { g_prefix = prefix; }
Level level() { return g_level; }

void open_file(const std::filesystem::path& path) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_file = std::make_unique<std::ofstream>(path, std::ios::app);
}

void to_file(const std::string& text) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_file) *g_file << text << std::flush;
}

void write(Level l, const std::string& line) {
  // The file keeps every line up to debug, dated; the terminal shows what the level asks for.
  to_file("[" + stamp("%Y-%m-%d %H:%M:%S") + "] " + g_prefix + line + "\n");
  if (static_cast<int>(l) > static_cast<int>(g_level)) return;
  std::fprintf(stderr, "[%s] %s%s\n", stamp("%H:%M:%S").c_str(), g_prefix.c_str(), line.c_str());
  std::fflush(stderr);
}

}  // namespace jcas::log
