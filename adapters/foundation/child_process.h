#pragma once
// Child `jcas` processes: this executable started again with its own arguments and environment
// (the benchmark's runs, --nproc's workers), and how their end is told.
#include <sys/types.h>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace jcas {

struct ChildOptions {
  int output_fd = -1;              // the child's stdout and stderr (-1: this process's)
  bool own_process_group = false;  // a terminal's Ctrl-C reaches this process only, which forwards it
};

// Starts /proc/self/exe with `argv` (argv[0] included) and `env`. The child gets SIGTERM when this
// process dies, however it dies (PR_SET_PDEATHSIG): no child outlives its launcher. UserError
// naming `what` when it cannot start.
pid_t start_self(const std::vector<std::string>& argv, const std::vector<std::string>& env, const ChildOptions& options,
                 const std::string& what);

// This process's environment without the variables named in `drop` or `set`, then `set` added.
std::vector<std::string> environment_with(const std::set<std::string>& drop,
                                          const std::map<std::string, std::string>& set = {});

// What `processes` jcas processes started together on one machine need so that they do not slow
// each other down: OpenMP threads that sleep rather than spin while they wait (OMP_WAIT_POLICY
// passive; README "Speed and memory" has the measurement, and what sleeping costs a process
// alone). Empty for one process, or when the user set OMP_WAIT_POLICY.
std::map<std::string, std::string> shared_core_environment(int processes);

// "exited with status 2", "was killed by signal 9 (Killed)".
std::string exit_text(int status);
// The exit status a shell would report: 128 + the signal for a killed child.
int exit_code(int status);

}  // namespace jcas
