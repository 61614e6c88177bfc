#include "stages/loss_options.h"

#include <fmt/format.h>

#include "adapters/foundation/error.h"

namespace jcas {

JcasLossOptions loss_options(const PipelineConfig& c) {
  JcasLossOptions o;
  o.method = c.text("retrain.method");
  if (o.method != "jcas" && o.method != "ce" && o.method != "volmin" && o.method != "sparsereg")
    throw UserError(fmt::format("--retrain.method: expected jcas, ce, volmin or sparsereg, got '{}'", o.method));
  o.affinity = c.flag("retrain.affinity");
  o.dar = c.flag("retrain.dar");
  o.calc = c.flag("retrain.calc");
  o.lambda = c.number("retrain.lambda");
  o.volume_weight = c.number("retrain.volume_weight");
  o.consistency_weight = c.number("retrain.consistency_weight");
  std::tie(o.affinity_h, o.affinity_w) = c.size("retrain.affinity_grid");
  o.affinity_impl = c.text("retrain.affinity_impl");
  if (o.affinity_impl != "dense" && o.affinity_impl != "tiled")
    throw UserError(fmt::format("--retrain.affinity_impl: expected dense or tiled, got '{}'", o.affinity_impl));
  o.affinity_ignore = c.text("retrain.affinity_ignore");
  if (o.affinity_ignore != "exclude" && o.affinity_ignore != "as_class")
    throw UserError(
        fmt::format("--retrain.affinity_ignore: expected exclude or as_class, got '{}'", o.affinity_ignore));
  return o;
}

}  // namespace jcas
