#include "adapters/foundation/interrupt.h"

#include <signal.h>

#include <atomic>

#include "adapters/foundation/error.h"

namespace jcas {
namespace {
std::atomic<int> g_signal{0};

// The first SIGINT/SIGTERM asks long loops to stop at their next safe point; a second one stops
// the process at once (the default action of the signal).
extern "C" void on_signal(int sig) {
  if (g_signal.exchange(sig) != 0) {
    signal(sig, SIG_DFL);
    raise(sig);
  }
}
}  // namespace

void install_interrupt_handler() {
  struct sigaction action = {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}
bool interrupt_requested() { return g_signal != 0; }
int interrupt_signal() { return g_signal; }
void check_interrupted() {
  if (g_signal != 0) throw Interrupted();
}
void request_interrupt() { g_signal = SIGINT; }
void clear_interrupt() { g_signal = 0; }

}  // namespace jcas
