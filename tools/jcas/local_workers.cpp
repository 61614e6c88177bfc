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
#include <memory>
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

// This process's environment with torchrun's variables for local rank `local` set.
std::vector<std::string> worker_environment(const LaunchOptions& launch, int local, std::uint16_t port) {
  const int rank = launch.node_rank * launch.nproc + local;
  std::map<std::string, std::string> set = {
      {"RANK", std::to_string(rank)},
      {"LOCAL_RANK", std::to_string(local)},
      {"WORLD_SIZE", std::to_string(launch.world_size())},
      {"LOCAL_WORLD_SIZE", std::to_string(launch.nproc)},
      {"GROUP_RANK", std::to_string(launch.node_rank)},
      {"MASTER_ADDR", launch.master_addr},
      {"MASTER_PORT", std::to_string(port)},
      {"TORCHELASTIC_USE_AGENT_STORE", "True"}};
  // As torchrun: one intra-op thread per worker unless the user says otherwise.
  if (!std::getenv("OMP_NUM_THREADS")) set["OMP_NUM_THREADS"] = "1";
  set.merge(shared_core_environment(launch.nproc));
  return environment_with({}, set);
}

// The value of `--key V` or `--key=V` at args[i], removed from `args`; nullopt if args[i] is not it.
std::optional<std::string> take_value(std::vector<std::string>& args, size_t i, const std::string& key) {
  if (args[i] == key) {
    if (i + 1 == args.size()) throw UserError(fmt::format("{} needs a value", key));
    std::string v = args[i + 1];
    args.erase(args.begin() + static_cast<long>(i), args.begin() + static_cast<long>(i + 2));
    return v;
  }
  if (args[i].rfind(key + "=", 0) == 0) {
    std::string v = args[i].substr(key.size() + 1);
    args.erase(args.begin() + static_cast<long>(i));
    return v;
  }
  return std::nullopt;
}

int whole_number(const std::string& text, const std::string& key, int low, int high, const std::string& what) {
  int n = low - 1;
  try {
    size_t used = 0;
    n = std::stoi(text, &used);
    if (used != text.size()) n = low - 1;
  } catch (const std::exception&) {
  }
  if (n < low || n > high) throw UserError(fmt::format("{} must be {} in {}..{}, got '{}'", key, what, low, high, text));
  return n;
}

}  // namespace

std::optional<LaunchOptions> take_launch_options(std::vector<std::string>& args) {
  LaunchOptions launch;
  std::map<std::string, std::string> given;
  for (size_t i = 0; i < args.size();) {
    bool taken = false;
    for (const char* key : {"--nproc", "--nnodes", "--node_rank", "--master_addr", "--master_port"})
      if (auto v = take_value(args, i, key)) {
        given[key] = *v;
        taken = true;
        break;
      }
    if (!taken) ++i;
  }
  if (given.empty()) return std::nullopt;
  if (!given.count("--nproc"))
    throw UserError(fmt::format("{} belongs to --nproc (the processes this launcher starts)", given.begin()->first));
  if (std::getenv("WORLD_SIZE"))
    throw UserError("--nproc starts the workers itself: give it without torchrun (WORLD_SIZE is set)");
  launch.nproc = whole_number(given["--nproc"], "--nproc", 1, 256, "a number of processes");
  if (given.count("--nnodes")) launch.nnodes = whole_number(given["--nnodes"], "--nnodes", 1, 1024, "a number of nodes");
  if (given.count("--node_rank"))
    launch.node_rank = whole_number(given["--node_rank"], "--node_rank", 0, launch.nnodes - 1, "a node of --nnodes");
  if (given.count("--master_addr")) launch.master_addr = given["--master_addr"];
  if (given.count("--master_port"))
    launch.master_port = whole_number(given["--master_port"], "--master_port", 1, 65535, "a port");
  if (launch.nnodes > 1 && launch.master_port == 0)
    throw UserError("--nnodes > 1 needs --master_port (and --master_addr: node 0's address, reachable from every node)");
  return launch;
}

int run_local_workers(const LaunchOptions& launch, const std::string& command, const std::vector<std::string>& args) {
  // Node 0 hosts the rendezvous; the other nodes' workers connect to it.
  std::unique_ptr<RendezvousServer> rendezvous;
  if (launch.node_rank == 0)
    rendezvous = std::make_unique<RendezvousServer>(launch.world_size(), static_cast<std::uint16_t>(launch.master_port));
  const std::uint16_t port = rendezvous ? rendezvous->port() : static_cast<std::uint16_t>(launch.master_port);
  std::vector<std::string> argv_strings = {"jcas", command};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::map<pid_t, int> running;  // pid -> rank
  for (int local = 0; local < launch.nproc; ++local) {
    const int rank = launch.node_rank * launch.nproc + local;
    const pid_t pid = start_self(argv_strings, worker_environment(launch, local, port), ChildOptions{},
                                 fmt::format("rank {}", rank));
    running[pid] = rank;
    log::info("started rank {} of {} (pid {}) at {}:{}", rank, launch.world_size(), static_cast<long>(pid),
              launch.master_addr, port);
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
