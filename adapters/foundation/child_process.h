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

// Starts this program (its own file, so the child keeps its name) with `argv` (argv[0] included)
// and `env`. The child gets SIGTERM when this process dies, however it dies (PR_SET_PDEATHSIG): no
// child outlives its launcher. UserError naming `what` when it cannot start.
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

// How the OpenMP threads of one jcas process wait. Unless the user set OMP_WAIT_POLICY or
// GOMP_SPINCOUNT, jcas's default: spin 1000 rounds, then sleep (README "Several jcas processes on
// the same cores": most of a lone run's speed, and no collapse when processes share cores).
// libgomp reads these variables when it loads, before main, so main() calls this first: the
// program then starts again (execv of its own file, the same arguments) with GOMP_SPINCOUNT set,
// and the new process takes that variable out of its environment again, so the processes it
// starts choose for themselves. Returns when there is nothing to do (or the re-execution failed:
// the process then runs as it is).
void set_openmp_waiting(char** argv);
// What this process runs with: "GOMP_SPINCOUNT=1000 (jcas's default)", "OMP_WAIT_POLICY=PASSIVE",
// or "libgomp's default (spinning)".
std::string openmp_waiting();

// "exited with status 2", "was killed by signal 9 (Killed)".
std::string exit_text(int status);
// The exit status a shell would report: 128 + the signal for a killed child.
int exit_code(int status);

}  // namespace jcas
