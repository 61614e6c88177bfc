#include "stages/stage_metrics.h"

#include "pipeline/metrics/label_free_criteria.h"

namespace jcas::metric {

std::string criterion(const std::string& name) { return "lf_" + name; }

std::vector<std::pair<std::string, std::string>> status_columns() {
  return {{mean_confidence, "confidence"},   {mean_entropy, "entropy"},  {changed_pixels, "changed"},
          {class_noise_rate, "class noise"}, {affinity_noise_rate, "aff. noise"}, {estimation_error, "T_C err"},
          {test_mjac, "test mJac"},          {test_mdice, "test mDice"}, {adapted_mjac, "adapt. mJac"},
          {val_mjac, "val mJac"},
          {criterion(kDefaultCriterion), "flip agr."}, {final_loss, "loss"}};
}

}  // namespace jcas::metric
