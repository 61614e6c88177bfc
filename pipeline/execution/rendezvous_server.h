#pragma once
// The rendezvous of a data-parallel run started by `jcas run --nproc N` (on node 0 of several): a
// c10d TCPStore at `port` (0: one the kernel picks), hosted by the launcher as torchrun's agent
// hosts its store. Workers find it through MASTER_ADDR/MASTER_PORT with
// TORCHELASTIC_USE_AGENT_STORE=True.
#include <cstdint>
#include <memory>

namespace jcas {

class RendezvousServer {
 public:
  explicit RendezvousServer(int world_size, std::uint16_t port = 0);
  ~RendezvousServer();
  RendezvousServer(const RendezvousServer&) = delete;
  RendezvousServer& operator=(const RendezvousServer&) = delete;
  std::uint16_t port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace jcas
