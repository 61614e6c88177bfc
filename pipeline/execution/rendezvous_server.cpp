#include "pipeline/execution/rendezvous_server.h"

#include <fmt/format.h>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "adapters/foundation/error.h"

namespace jcas {

struct RendezvousServer::Impl {
  c10::intrusive_ptr<c10d::TCPStore> store;
};

RendezvousServer::RendezvousServer(int world_size, std::uint16_t port) : impl_(std::make_unique<Impl>()) {
  c10d::TCPStoreOptions options;
  options.port = port;
  options.isServer = true;
  options.numWorkers = world_size;
  options.waitWorkers = false;
  try {
    impl_->store = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", options);
  } catch (const std::exception& e) {
    throw UserError(fmt::format("cannot start the rendezvous store at port {} ({})", port, e.what()));
  }
}

RendezvousServer::~RendezvousServer() = default;

std::uint16_t RendezvousServer::port() const { return impl_->store->getPort(); }

}  // namespace jcas
