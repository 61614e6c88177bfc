#include "tools/report/round_comparison.h"

#include <fmt/format.h>


#include "adapters/foundation/error.h"
#include "pipeline/method/ntm_estimators.h"
#include "pipeline/metrics/label_noise_stats.h"
#include "stages/dataset_options.h"
#include "stages/ntm_from_pseudo_labels.h"
#include "stages/stage_results.h"
#include "stages/stage_metrics.h"

namespace jcas {
namespace {

// An up-to-date stage result: its file and the headline figures of its record.
struct DoneResult {
  std::filesystem::path path;
  Metrics metrics;
};

// The result of `key` if it is up to date; otherwise notes why not.
std::optional<DoneResult> done(const PipelinePlan& plan, const StageKey& key, std::vector<std::string>& notes) {
  const PlannedStage* p = plan.find(key);
  if (!p) return std::nullopt;
  CacheStatus s = plan.status(*p);
  if (s.state != CacheState::done) {
    notes.push_back(fmt::format("{} is {}{}", key.label(), state_name(s.state), s.reason.empty() ? "" : ": " + s.reason));
    return std::nullopt;
  }
  return DoneResult{p->path(), s.record->metrics};  // the record the status has read
}

double metric_value(const DoneResult& result, const std::string& name) {
  auto it = result.metrics.find(name);
  return it == result.metrics.end() ? NAN : it->second;
}

std::vector<double> to_vector(const torch::Tensor& t) {
  auto d = t.to(torch::kFloat64).contiguous();
  return {d.data_ptr<double>(), d.data_ptr<double>() + d.numel()};
}

}  // namespace

RoundComparison compare_rounds(const PipelinePlan& plan, const std::vector<int>& wanted) {
  const StageContext& ctx = plan.context();
  RoundComparison cmp;
  const int planned_rounds = ctx.run().rounds;
  const auto data = ctx.values().get<DataOptions>("data");
  const auto train_split = ctx.values().get<TrainSplit>("data");
  std::vector<int> rounds = wanted;
  if (rounds.empty())
    for (int r = 0; r < planned_rounds; ++r) rounds.push_back(r);
  for (int r : rounds)
    if (r < 0 || r >= planned_rounds)
      throw UserError(fmt::format("--rounds: round {} is not in this pipeline (rounds 0..{})", r, planned_rounds - 1));

  std::vector<std::string> ignored;
  if (auto ev = done(plan, {"evaluate_source", 0}, ignored)) {
    cmp.source_test_mjac = metric_value(*ev, metric::test_mjac);
    cmp.source_test_mdice = metric_value(*ev, metric::test_mdice);
  }
  const int k = target_num_classes(ctx, data);
  cmp.class_names = read_dataset_info(data.target_root(ctx.workdir()).string()).class_names;
  cmp.has_truth = split_has_labels(ctx, data, train_split.name);
  std::vector<torch::Tensor> truth;
  if (cmp.has_truth) {
    auto train = open_target(ctx, data, train_split.name, true);
    for (size_t i = 0; i < train.size(); ++i) truth.push_back(train.get(i).label);
  }

  for (int r : rounds) {
    RoundSummary s;
    s.round = r;
    if (auto file = done(plan, {"pseudo_label", r}, s.notes)) {
      PseudoLabels pl = PseudoLabels::read(file->path);
      s.has_pseudo_labels = true;
      auto labels = pl.labels;
      cmp.labels[r] = labels;
      if (cmp.image_names.empty()) cmp.image_names = pl.images;
      s.mean_confidence = pl.confidence.to(torch::kFloat64).mean().item<double>() / 255;
      s.class_dist = to_vector(class_distribution(labels, k));
      if (cmp.has_truth) {
        SegmentationScore score(k);
        LabelNoiseStats stats(k);
        for (size_t i = 0; i < truth.size(); ++i) {
          score.add(truth[i], labels[static_cast<int64_t>(i)]);
          stats.add(truth[i], labels[static_cast<int64_t>(i)]);
        }
        s.pseudo_vs_truth = score.report();
        s.class_noise_rate = stats.class_noise_rate();
        s.affinity_noise_rate = stats.affinity_noise_rate();
      } else {
        s.notes.push_back("no target ground truth: pseudo-label Dice/Jaccard, noise rates and true T_C not computable");
      }
      auto prev = cmp.labels.find(r - 1);
      if (prev != cmp.labels.end()) {
        auto changed = labels.ne(prev->second);
        s.changed_fraction = changed.to(torch::kFloat64).mean().item<double>();
        for (int c = 0; c < k; ++c) {
          auto was = prev->second.eq(c);
          double n = was.sum().item<double>();
          s.changed_per_class.push_back(n > 0 ? (changed & was).sum().item<double>() / n : NAN);
        }
      } else if (r > 0) {
        s.notes.push_back(fmt::format("round {} pseudo labels not available: no change map", r - 1));
      }
    }
    if (auto file = done(plan, {"estimate_ntm", r}, s.notes)) {
      NtmEstimate est = NtmEstimate::read(file->path);
      s.estimator = est.estimator;
      s.estimated_class_ntm = est.class_ntm;
      if (est.true_class_ntm.defined()) {
        s.true_class_ntm = est.true_class_ntm;
        s.true_affinity_ntm = est.true_affinity_ntm;
        for (const auto& [name, t] : est.estimates) s.estimator_errors[name] = ntm_estimation_error(t, est.true_class_ntm);
      }
    }
    if (auto file = done(plan, {"derive_affinity", r}, s.notes))
      s.class_to_affinity = AffinityDerivation::read(file->path).affinity_ntm;
    if (auto file = done(plan, {"retrain", r}, s.notes)) {
      RetrainOutcome rt = RetrainOutcome::read(file->path);
      s.learned_class_ntm = rt.learned_class_ntm;
      s.learned_affinity_ntm = rt.learned_affinity_ntm;
      s.selected_epoch = static_cast<int>(rt.selected_epoch);
    }
    if (auto file = done(plan, {"evaluate", r}, s.notes)) {
      s.test_mjac = metric_value(*file, metric::test_mjac);
      s.test_mdice = metric_value(*file, metric::test_mdice);
    }
    cmp.rounds.push_back(std::move(s));
  }
  return cmp;
}

}  // namespace jcas
