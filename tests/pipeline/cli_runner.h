#pragma once
// Runs the jcas binary for end-to-end tests and captures its output and exit code.
#include <string>
#include <vector>

namespace jcas::testing {

struct CliResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

CliResult run_jcas(const std::vector<std::string>& args);
// Starts jcas in the background; returns its pid (output goes to `log_path`).
int spawn_jcas(const std::vector<std::string>& args, const std::string& log_path);
// Waits for a spawned process; returns its exit code (128 + signal if killed).
int wait_jcas(int pid);

}  // namespace jcas::testing
