#pragma once
// The process's place in a distributed run, as torchrun (and PyTorch's other launchers) set it in
// the environment: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE. Unset: one process.

namespace jcas {

struct TorchrunEnvironment {
  int rank = 0, world_size = 1;              // this process among all
  int local_rank = 0, local_world_size = 1;  // among those on this node
};

// Reads the variables; UserError naming the variable on a value that is not an integer, and
// naming both when RANK is not a process of WORLD_SIZE or LOCAL_RANK is negative.
TorchrunEnvironment read_torchrun_environment();

}  // namespace jcas
