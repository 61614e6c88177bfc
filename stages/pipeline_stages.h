#pragma once
// The stages of the adaptation pipeline, in execution order within a round.
#include <memory>
#include <vector>

#include "pipeline/runner/stage.h"

namespace jcas {

std::unique_ptr<Stage> make_data_stage();             // synthetic data (skipped for external datasets)
std::unique_ptr<Stage> make_source_stage();           // source model: trained on source labels or imported
std::unique_ptr<Stage> make_evaluate_source_stage();  // the source model on the target test split
std::unique_ptr<Stage> make_evaluate_adapted_source_stage();  // ... on the split adapted on (transductive)
std::unique_ptr<Stage> make_evaluate_val_source_stage();  // ... on the target val split (--evaluate.val)
std::unique_ptr<Stage> make_criteria_source_stage();  // label-free criteria of the source model
std::unique_ptr<Stage> make_pseudo_label_stage();     // model of round r labels the target train split
std::unique_ptr<Stage> make_estimate_ntm_stage();     // T_C of those pseudo labels
std::unique_ptr<Stage> make_derive_affinity_stage();  // T_{C->A} in closed form
std::unique_ptr<Stage> make_retrain_stage();          // JCAS retraining -> model of round r+1
std::unique_ptr<Stage> make_evaluate_stage();         // model of round r+1 on the target test split
std::unique_ptr<Stage> make_evaluate_adapted_stage();  // ... on the split it adapted on (transductive)
std::unique_ptr<Stage> make_evaluate_val_stage();  // ... on the target val split (--evaluate.val)
std::unique_ptr<Stage> make_criteria_stage();           // label-free criteria of the model of round r+1

std::vector<std::unique_ptr<Stage>> pipeline_stages();

}  // namespace jcas
