#pragma once
// `jcas run --nproc N`: a data-parallel run without torchrun. The launcher starts N copies of this
// jcas with torchrun's environment (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK,
// MASTER_ADDR, MASTER_PORT) and waits; when one ends with an error it names that rank and stops the
// others, as torchrun does. Several machines take torchrun's flags: one launcher per machine with
// --nnodes M --node_rank K --master_addr ADDR --master_port P; node 0's launcher hosts the
// rendezvous at ADDR:P (on one machine: 127.0.0.1 at a free port).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace jcas {

struct LaunchOptions {
  int nproc = 1;   // processes on this node
  int nnodes = 1;  // nodes, each with its own launcher
  int node_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 0;  // 0: a free port (one node only)

  int world_size() const { return nproc * nnodes; }
};

// Removes --nproc, --nnodes, --node_rank, --master_addr and --master_port ("--key V" or
// "--key=V") from `args`; returns them when --nproc is there (UserError for a bad value, or for the
// others without --nproc).
std::optional<LaunchOptions> take_launch_options(std::vector<std::string>& args);

// Runs `jcas <command> <args>` as this node's ranks; returns 0 when all succeed, otherwise the
// first failing rank's exit code (128 + signal when a signal ended it).
int run_local_workers(const LaunchOptions& launch, const std::string& command, const std::vector<std::string>& args);

}  // namespace jcas
