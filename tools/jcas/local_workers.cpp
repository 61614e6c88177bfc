#include "tools/jcas/local_workers.h"

#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <thread>

#include "adapters/foundation/child_process.h"
#include "adapters/foundation/error.h"
#include "adapters/foundation/interrupt.h"
#include "adapters/foundation/log.h"
#include "pipeline/execution/rendezvous_server.h"

namespace jcas {
namespace {

// How long the others get to stop after SIGTERM before SIGKILL.
constexpr auto kStopGrace = std::chrono::seconds(10);

// This process's environment with torchrun's variables for `rank` set.
std::vector<std::string> worker_environment(int rank, int nproc, std::uint16_t port) {
  std::map<std::string, std::string> set = {
      {"RANK", std::to_string(rank)},          {"LOCAL_RANK", std::to_string(rank)},
      {"WORLD_SIZE", std::to_string(nproc)},   {"LOCAL_WORLD_SIZE", std::to_string(nproc)},
      {"GROUP_RANK", "0"},                     {"MASTER_ADDR", "127.0.0.1"},
      {"MASTER_PORT", std::to_string(port)},   {"TORCHELASTIC_USE_AGENT_STORE", "True"}};
  // As torchrun: one intra-op thread per worker unless the user says otherwise.
  if (!std::getenv("OMP_NUM_THREADS")) set["OMP_NUM_THREADS"] = "1";
  set.merge(shared_core_environment(nproc));
  return environment_with({}, set);
}

}  // namespace

std::optional<int> take_nproc(std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    std::string text;
    size_t count = 1;
    if (args[i] == "--nproc") {
      if (i + 1 == args.size()) throw UserError("--nproc needs a number of processes");
      text = args[i + 1];
      count = 2;
    } else if (args[i].rfind("--nproc=", 0) == 0) {
      text = args[i].substr(8);
    } else {
      continue;
    }
    int n = 0;
    try {
      size_t used = 0;
      n = std::stoi(text, &used);
      if (used != text.size()) n = 0;
    } catch (const std::exception&) {
    }
    if (n < 1 || n > 256)
      throw UserError(fmt::format("--nproc must be a number of processes in 1..256, got '{}'", text));
    if (std::getenv("WORLD_SIZE"))
      throw UserError("--nproc starts the workers itself: give it without torchrun (WORLD_SIZE is set)");
    args.erase(args.begin() + static_cast<long>(i), args.begin() + static_cast<long>(i + count));
    return n;
  }
  return std::nullopt;
}

int run_local_workers(int nproc, const std::string& command, const std::vector<std::string>& args) {
  RendezvousServer rendezvous(nproc);
  std::vector<std::string> argv_strings = {"jcas", command};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::map<pid_t, int> running;  // pid -> rank
  for (int rank = 0; rank < nproc; ++rank) {
    const pid_t pid = start_self(argv_strings, worker_environment(rank, nproc, rendezvous.port()), ChildOptions{},
                                 fmt::format("rank {}", rank));
    running[pid] = rank;
    log::info("started rank {} of {} (pid {}) at 127.0.0.1:{}", rank, nproc, static_cast<long>(pid), rendezvous.port());
  }
  int result = 0;
  std::optional<std::chrono::steady_clock::time_point> stopping;  // since when the others are asked to stop
  auto stop_others = [&](int signal) {
    for (const auto& [pid, rank] : running) kill(pid, signal);
  };
  while (!running.empty()) {
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid > 0 && running.count(pid)) {
      const int rank = running[pid];
      running.erase(pid);
      const bool failed = !WIFEXITED(status) || WEXITSTATUS(status) != 0;
      if (failed && result == 0) {
        result = exit_code(status);
        std::fprintf(stderr, "jcas %s: rank %d (pid %ld) %s; stopping the other ranks\n", command.c_str(), rank,
                     static_cast<long>(pid), exit_text(status).c_str());
        stop_others(SIGTERM);
        stopping = std::chrono::steady_clock::now();
      }
      continue;
    }
    if (interrupt_requested() && !stopping) {  // the launcher was asked to stop: so are the workers
      stop_others(interrupt_signal() ? interrupt_signal() : SIGTERM);
      stopping = std::chrono::steady_clock::now();
      if (result == 0) result = 128 + (interrupt_signal() ? interrupt_signal() : SIGTERM);
    }
    if (stopping && std::chrono::steady_clock::now() - *stopping > kStopGrace) stop_others(SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return result;
}

}  // namespace jcas
