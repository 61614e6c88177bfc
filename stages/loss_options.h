#pragma once
// The JCAS loss options of the retrain stage, read from the [retrain] section.
#include "pipeline/method/jcas_loss.h"
#include "pipeline/runner/pipeline_options.h"

namespace jcas {

JcasLossOptions loss_options(const PipelineConfig& config);

}  // namespace jcas
