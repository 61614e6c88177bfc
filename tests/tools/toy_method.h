#pragma once
// A method that is not part of jcas, as a user would add one: tests/tools/toy_method.cpp.
#include <memory>

#include "pipeline/training/adaptation_method.h"

namespace jcas::testing {

// "focal": the focal loss (Lin et al., ICCV 2017, γ = 2) on both heads.
std::shared_ptr<const AdaptationMethod> focal_method();
// How many times a focal loss has been evaluated in this process.
int focal_loss_calls();

}  // namespace jcas::testing
