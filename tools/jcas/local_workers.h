#pragma once
// `jcas run --nproc N`: a data-parallel run on this machine without torchrun. The launcher hosts
// the rendezvous, starts N copies of this jcas with torchrun's environment (RANK, LOCAL_RANK,
// WORLD_SIZE, MASTER_ADDR=127.0.0.1, MASTER_PORT) and waits; when one ends with an error it names
// that rank and stops the others, as torchrun does.
#include <optional>
#include <string>
#include <vector>

namespace jcas {

// Removes "--nproc N" / "--nproc=N" from `args` and returns N (UserError for a bad N).
std::optional<int> take_nproc(std::vector<std::string>& args);

// Runs `jcas <command> <args>` as ranks 0..nproc-1; returns 0 when all succeed, otherwise the
// first failing rank's exit code (128 + signal when a signal ended it).
int run_local_workers(int nproc, const std::string& command, const std::vector<std::string>& args);

}  // namespace jcas
