#pragma once

namespace jcas {

// Ctrl-C / SIGTERM set a flag; long loops call check_interrupted() at safe points (after a
// checkpoint, between images) and stop by throwing Interrupted. A second signal stops the process
// at once. The exit code of an interrupted command is 128 + the signal (130 SIGINT, 143 SIGTERM).
void install_interrupt_handler();
bool interrupt_requested();
int interrupt_signal();  // the signal that asked to stop (0: none)
void check_interrupted();
void request_interrupt();  // for tests: behave as if the user pressed Ctrl-C
void clear_interrupt();

}  // namespace jcas
