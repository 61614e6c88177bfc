#include "adapters/foundation/interrupt.h"

#include <atomic>
#include <csignal>

#include "adapters/foundation/error.h"

namespace jcas {
namespace {
std::atomic<bool> g_interrupted{false};
extern "C" void on_signal(int) { g_interrupted = true; }
}  // namespace

void install_interrupt_handler() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}
bool interrupt_requested() { return g_interrupted; }
void check_interrupted() {
  if (g_interrupted) throw Interrupted();
}
void request_interrupt() { g_interrupted = true; }
void clear_interrupt() { g_interrupted = false; }

}  // namespace jcas
