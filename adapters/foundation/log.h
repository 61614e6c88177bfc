#pragma once
#include <fmt/format.h>
#include <filesystem>
#include <string>

namespace jcas::log {

enum class Level { quiet = 0, info = 1, debug = 2 };
void set_level(Level level);
Level level();
// Text put before every later line ("rank 1: " in a data-parallel run's other ranks); "" for none.
void set_prefix(const std::string& prefix);

// Log lines go to stderr so that stdout stays clean for --json output, and, once a file is
// open, to that file with their date (every level, whatever the terminal shows).
void write(Level level, const std::string& line);
// Appends every later log line to `path` (the run log of a work directory).
void open_file(const std::filesystem::path& path);
// Writes `text` to the open log file only (e.g. the configuration at the top of a run).
void to_file(const std::string& text);

template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::info, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::debug, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace jcas::log
