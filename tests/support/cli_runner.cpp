#include "tests/support/cli_runner.h"

#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>

namespace jcas::testing {
namespace {
std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}
int decode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}
void require_binary() {
  if (!std::filesystem::exists(JCAS_BINARY))
    throw std::runtime_error(std::string("the jcas binary is not built: ") + JCAS_BINARY +
                             " (cmake --build <build dir> --target jcas)");
}
}  // namespace

CliResult run_jcas_line(const std::string& command_line) {
  require_binary();
  const std::string cmd = quote(JCAS_BINARY) + " " + command_line + " 2>&1";
  CliResult r;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) throw std::runtime_error("popen failed for: " + cmd);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) r.output.append(buf, n);
  r.exit_code = decode(pclose(pipe));
  return r;
}

CliResult run_jcas(const std::vector<std::string>& args) {
  std::string line;
  for (const auto& a : args) line += (line.empty() ? "" : " ") + quote(a);
  return run_jcas_line(line);
}

int spawn_jcas(const std::vector<std::string>& args, const std::string& log_path) {
  require_binary();
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> argv;
    std::string bin = JCAS_BINARY;
    argv.push_back(bin.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

int wait_jcas(int pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return decode(status);
}

}  // namespace jcas::testing
