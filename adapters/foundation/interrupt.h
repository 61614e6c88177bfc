#pragma once

namespace jcas {

// Ctrl-C / SIGTERM set a flag; long loops call check_interrupted() at safe points (after a
// checkpoint, between images) and stop by throwing Interrupted.
void install_interrupt_handler();
bool interrupt_requested();
void check_interrupted();
void request_interrupt();  // for tests: behave as if the user pressed Ctrl-C
void clear_interrupt();

}  // namespace jcas
