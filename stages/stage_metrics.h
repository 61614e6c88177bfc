#pragma once
// The figures stages record in their results (StageRecord::metrics) by key, declared once: the
// stages write them, `status`, the report, the benchmark and the ablation read them.
#include <string>
#include <utility>
#include <vector>

namespace jcas::metric {

// evaluate_source, evaluate[r]: the target's held-out test split.
inline constexpr char test_mdice[] = "test_mdice";
inline constexpr char test_mjac[] = "test_mjac";
// evaluate_adapted_source, evaluate_adapted[r]: the split adapted on (transductive).
inline constexpr char adapted_mdice[] = "adapted_mdice";
inline constexpr char adapted_mjac[] = "adapted_mjac";
// evaluate_val_source, evaluate_val[r]: the labelled val split (choices made with labels).
inline constexpr char val_mdice[] = "val_mdice";
inline constexpr char val_mjac[] = "val_mjac";
// pseudo_label[r]: label-free figures, and the noise of the labels where the truth is known.
inline constexpr char mean_confidence[] = "mean_confidence";
inline constexpr char mean_entropy[] = "mean_entropy";
inline constexpr char changed_pixels[] = "changed_pixels";
inline constexpr char class_noise_rate[] = "class_noise_rate";
inline constexpr char affinity_noise_rate[] = "affinity_noise_rate";
// estimate_ntm[r]: the chosen estimator's error against the true T_C (where labels exist).
inline constexpr char estimation_error[] = "estimation_error";
// source, retrain[r]: the last epoch's training loss.
inline constexpr char final_loss[] = "final_loss";
// criteria_source, criteria[r]: each label-free criterion (pipeline/metrics/label_free_criteria.h)
// as "lf_NAME".
std::string criterion(const std::string& name);

// The figures worth a column in `jcas status` and after `jcas run`: key and title, in order.
std::vector<std::pair<std::string, std::string>> status_columns();

}  // namespace jcas::metric
