#pragma once
// The message of the UserError a call throws, for tests that check what an error names.
#include <functional>
#include <string>

#include "adapters/foundation/error.h"

namespace jcas::testing {

// e.what() of the UserError `f` throws, or "no UserError" when it returns.
inline std::string user_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const UserError& e) {
    return e.what();
  }
  return "no UserError";
}

}  // namespace jcas::testing
