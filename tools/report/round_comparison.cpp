#include "tools/report/round_comparison.h"

#include <fmt/format.h>

#include <sstream>

#include "adapters/io/h5_store.h"
#include "adapters/foundation/error.h"
#include "pipeline/metrics/label_noise_stats.h"
#include "stages/stage_inputs.h"

namespace jcas {
namespace {

// Opens a stage result if it is up to date; otherwise notes why not.
std::optional<H5Reader> open_done(const PipelinePlan& plan, const StageKey& key, std::vector<std::string>& notes) {
  const PlannedStage* p = plan.find(key);
  if (!p) return std::nullopt;
  StageStatus s = plan.status(*p);
  if (s.state != StageState::done) {
    notes.push_back(fmt::format("{} is {}{}", key.label(), state_name(s.state), s.reason.empty() ? "" : ": " + s.reason));
    return std::nullopt;
  }
  return H5Reader(p->path);
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::vector<double> to_vector(const torch::Tensor& t) {
  auto d = t.to(torch::kFloat64).contiguous();
  return {d.data_ptr<double>(), d.data_ptr<double>() + d.numel()};
}

}  // namespace

RoundComparison compare_rounds(const PipelinePlan& plan, const std::vector<int>& wanted) {
  const StageContext& ctx = plan.context();
  RoundComparison cmp;
  const int planned_rounds = ctx.config().integer("rounds");
  std::vector<int> rounds = wanted;
  if (rounds.empty())
    for (int r = 0; r < planned_rounds; ++r) rounds.push_back(r);
  for (int r : rounds)
    if (r < 0 || r >= planned_rounds)
      throw UserError(fmt::format("--rounds: round {} is not in this pipeline (rounds 0..{})", r, planned_rounds - 1));

  std::vector<std::string> ignored;
  if (auto ev = open_done(plan, {"evaluate_source", 0}, ignored)) {
    cmp.source_test_mjac = ev->attr_double("/", "metric.test_mjac");
    cmp.source_test_mdice = ev->attr_double("/", "metric.test_mdice");
  }
  const int k = target_num_classes(ctx);
  cmp.class_names = read_dataset_info(ctx.target_root().string()).class_names;
  cmp.has_truth = target_has_labels(ctx);
  std::vector<torch::Tensor> truth;
  if (cmp.has_truth) {
    auto train = open_target(ctx, ctx.config().text("data.train_split"), true);
    for (size_t i = 0; i < train.size(); ++i) truth.push_back(train.get(i).label);
  }

  for (int r : rounds) {
    RoundSummary s;
    s.round = r;
    if (auto pl = open_done(plan, {"pseudo_label", r}, s.notes)) {
      s.has_pseudo_labels = true;
      auto labels = pl->read("labels");
      cmp.labels[r] = labels;
      if (cmp.image_names.empty()) cmp.image_names = split_lines(pl->attr_string("/", "images"));
      s.mean_confidence = pl->read("confidence").to(torch::kFloat64).mean().item<double>() / 255;
      auto counts = torch::bincount(labels.reshape({-1}).to(torch::kLong), {}, 256).slice(0, 0, k).to(torch::kFloat64);
      s.class_dist = to_vector(counts / counts.sum());
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
    if (auto est = open_done(plan, {"estimate_ntm", r}, s.notes)) {
      s.estimator = est->attr_string("/", "estimator");
      s.estimated_class_ntm = est->read("class_ntm");
      if (est->has("true_class_ntm")) {
        s.true_class_ntm = est->read("true_class_ntm");
        s.true_affinity_ntm = est->read("true_affinity_ntm");
        for (const auto& e : est->list("estimates"))
          s.estimator_errors[e] = est->attr_double("/", "metric.error_" + e);
      }
    }
    if (auto der = open_done(plan, {"derive_affinity", r}, s.notes)) s.class_to_affinity = der->read("affinity_ntm");
    if (auto rt = open_done(plan, {"retrain", r}, s.notes)) {
      s.learned_class_ntm = rt->read("learned_class_ntm");
      s.learned_affinity_ntm = rt->read("learned_affinity_ntm");
      s.selected_epoch = static_cast<int>(rt->attr_int("/", "selected_epoch"));
    }
    if (auto ev = open_done(plan, {"evaluate", r}, s.notes)) {
      s.test_mjac = ev->attr_double("/", "metric.test_mjac");
      s.test_mdice = ev->attr_double("/", "metric.test_mdice");
    }
    cmp.rounds.push_back(std::move(s));
  }
  return cmp;
}

}  // namespace jcas
