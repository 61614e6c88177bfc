#include "stages/pipeline_stages.h"

namespace jcas {

std::vector<std::unique_ptr<Stage>> pipeline_stages() {
  std::vector<std::unique_ptr<Stage>> s;
  s.push_back(make_data_stage());
  s.push_back(make_source_stage());
  s.push_back(make_evaluate_source_stage());
  s.push_back(make_evaluate_adapted_source_stage());
  s.push_back(make_evaluate_val_source_stage());
  s.push_back(make_criteria_source_stage());
  s.push_back(make_pseudo_label_stage());
  s.push_back(make_estimate_ntm_stage());
  s.push_back(make_derive_affinity_stage());
  s.push_back(make_retrain_stage());
  s.push_back(make_evaluate_stage());
  s.push_back(make_evaluate_adapted_stage());
  s.push_back(make_evaluate_val_stage());
  s.push_back(make_criteria_stage());
  return s;
}

}  // namespace jcas
