#pragma once
// The rendezvous of a data-parallel run started on this machine by `jcas run --nproc N`: a c10d
// TCPStore on 127.0.0.1 at a port the kernel picks, hosted by the launcher as torchrun's agent
// hosts its store. Workers find it through MASTER_ADDR/MASTER_PORT with
// TORCHELASTIC_USE_AGENT_STORE=True.
#include <cstdint>
#include <memory>

namespace jcas {

class RendezvousServer {
 public:
  explicit RendezvousServer(int world_size);
  ~RendezvousServer();
  RendezvousServer(const RendezvousServer&) = delete;
  RendezvousServer& operator=(const RendezvousServer&) = delete;
  std::uint16_t port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace jcas
