#include "adapters/foundation/log.h"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace jcas::log {
namespace {
Level g_level = Level::info;
}

void set_level(Level l) { g_level = l; }
Level level() { return g_level; }

void write(Level l, const std::string& line) {
  if (static_cast<int>(l) > static_cast<int>(g_level)) return;
  std::time_t now = std::time(nullptr);
  char stamp[16];
  std::strftime(stamp, sizeof stamp, "%H:%M:%S", std::localtime(&now));
  std::fprintf(stderr, "[%s] %s\n", stamp, line.c_str());
  std::fflush(stderr);
}

}  // namespace jcas::log
