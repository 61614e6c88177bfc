#pragma once
#include <fmt/format.h>
#include <string>

namespace jcas::log {

enum class Level { quiet = 0, info = 1, debug = 2 };
void set_level(Level level);
Level level();

// Log lines go to stderr so that stdout stays clean for --json output.
void write(Level level, const std::string& line);

template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::info, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::debug, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace jcas::log
