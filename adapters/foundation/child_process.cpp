#include "adapters/foundation/child_process.h"

#include <fmt/format.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "adapters/foundation/error.h"

extern char** environ;

namespace jcas {
namespace {

// This program's file. Executed by this path rather than /proc/self/exe, a process keeps its name
// (`ps`, `top`, `pkill jcas` read the name of the file executed). Empty when unreadable.
std::string own_executable() {
  char path[4096];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  return n > 0 ? std::string(path, static_cast<size_t>(n)) : std::string();
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> p;
  for (auto& s : strings) p.push_back(s.data());
  p.push_back(nullptr);
  return p;
}

}  // namespace

pid_t start_self(const std::vector<std::string>& argv, const std::vector<std::string>& env, const ChildOptions& options,
                 const std::string& what) {
  // Everything the child needs is built before fork(): between fork and exec only system calls run.
  std::vector<std::string> argv_copy = argv, env_copy = env;
  auto argp = pointers(argv_copy), envp = pointers(env_copy);
  const std::string self = own_executable();
  const char* program = self.empty() ? "/proc/self/exe" : self.c_str();
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) throw UserError(fmt::format("cannot start {}: {}", what, std::strerror(errno)));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(128 + SIGTERM);  // the launcher died before the line above
    if (options.own_process_group) setpgid(0, 0);
    if (options.output_fd >= 0) {
      dup2(options.output_fd, STDOUT_FILENO);
      dup2(options.output_fd, STDERR_FILENO);
    }
    execve(program, argp.data(), envp.data());
    _exit(127);
  }
  return pid;
}

std::vector<std::string> environment_with(const std::set<std::string>& drop,
                                          const std::map<std::string, std::string>& set) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('='));
    if (!drop.count(name) && !set.count(name)) env.push_back(entry);
  }
  for (const auto& [name, value] : set) env.push_back(name + "=" + value);
  return env;
}

namespace {

constexpr const char* kRelaunched = "JCAS_OPENMP_WAITING";  // set on the re-execution only
std::string waiting = "libgomp's default (spinning)";

}  // namespace

void set_openmp_waiting(char** argv) {
  if (const char* set_by_jcas = std::getenv(kRelaunched)) {
    waiting = fmt::format("{} (jcas's default)", set_by_jcas);
    unsetenv("GOMP_SPINCOUNT");
    unsetenv(kRelaunched);
    return;
  }
  for (const char* name : {"OMP_WAIT_POLICY", "GOMP_SPINCOUNT"})
    if (const char* value = std::getenv(name)) {
      waiting = fmt::format("{}={}", name, value);
      return;
    }
  setenv("GOMP_SPINCOUNT", "1000", 1);
  setenv(kRelaunched, "GOMP_SPINCOUNT=1000", 1);
  const std::string self = own_executable();
  if (!self.empty()) execv(self.c_str(), argv);
  unsetenv("GOMP_SPINCOUNT");  // not re-executed: this process's libgomp spins as it loaded
  unsetenv(kRelaunched);
}

std::string openmp_waiting() { return waiting; }

std::map<std::string, std::string> shared_core_environment(int processes) {
  if (processes <= 1 || std::getenv("OMP_WAIT_POLICY")) return {};
  return {{"OMP_WAIT_POLICY", "PASSIVE"}};
}

std::string exit_text(int status) {
  if (WIFSIGNALED(status))
    return fmt::format("was killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  return fmt::format("exited with status {}", WEXITSTATUS(status));
}

int exit_code(int status) { return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status); }

}  // namespace jcas
