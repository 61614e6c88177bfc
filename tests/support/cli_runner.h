#pragma once
// Runs the jcas binary for end-to-end tests and captures its output and exit code. Every test
// group that calls these depends on the binary in CMake; a missing binary throws, so such a test
// fails with the binary's path instead of being skipped.
#include <string>
#include <vector>

namespace jcas::testing {

struct CliResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// jcas with `args`, each passed as one argument.
CliResult run_jcas(const std::vector<std::string>& args);
// jcas with `command_line` as a shell reads it (quotes group words): for tests that write the
// command as a user types it.
CliResult run_jcas_line(const std::string& command_line);
// Starts jcas in the background; returns its pid (output goes to `log_path`).
int spawn_jcas(const std::vector<std::string>& args, const std::string& log_path);
// Waits for a spawned process; returns its exit code (128 + signal if killed).
int wait_jcas(int pid);

}  // namespace jcas::testing
