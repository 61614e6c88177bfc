#pragma once
#include <stdexcept>
#include <string>

namespace jcas {

// A mistake of the user (bad option, missing or malformed file): reported as one line, exit code 2.
class UserError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Thrown when the user interrupts (Ctrl-C / SIGTERM) so that long loops stop at a safe point.
class Interrupted : public std::runtime_error {
 public:
  Interrupted() : std::runtime_error("interrupted") {}
};

}  // namespace jcas
