#include "tools/ablation/ablation.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <opencv2/imgproc.hpp>

#include "adapters/foundation/error.h"
#include "adapters/foundation/log.h"
#include "adapters/foundation/options.h"
#include "adapters/foundation/progress.h"
#include "adapters/io/h5_store.h"
#include "adapters/io/segmentation_dataset.h"
#include "data/label_noise.h"
#include "pipeline/method/class_to_affinity.h"
#include "pipeline/method/ntm_estimators.h"
#include "pipeline/metrics/label_noise_stats.h"
#include "pipeline/training/inference.h"
#include "pipeline/training/reference_rows.h"
#include "stages/stage_inputs.h"
#include "tools/report/seed_spread.h"
#include "stages/stage_metrics.h"

namespace jcas {
namespace {

std::string dist_text(const std::vector<double>& d) {
  std::string out = "[";
  for (size_t i = 0; i < d.size(); ++i) out += fmt::format("{}{:.3f}", i ? ", " : "", d[i]);
  return out + "]";
}

}  // namespace

std::vector<std::string> ablation_variant_names() {
  std::vector<std::string> names = {reference_row::upper_bound};
  for (const auto& m : adaptation_methods())
    if (m->paper_ablation()) names.push_back(m->name());
  return names;
}

const AdaptationMethod& ablation_variant_method(const std::string& v) {
  if (v == reference_row::upper_bound) return adaptation_method(reference_row::upper_bound_method);
  try {
    const AdaptationMethod& m = adaptation_method(v);
    if (m.paper_ablation()) return m;
    throw UserError("not a row of the paper's ablation");
  } catch (const UserError&) {
    throw UserError(fmt::format("unknown ablation variant '{}': expected one of {}", v,
                                fmt::join(ablation_variant_names(), ", ")));
  }
}

std::string ablation_variant_title(const std::string& v) {
  if (v == reference_row::upper_bound) return fmt::format("Upper bound ({})", reference_row::upper_bound_title);
  return ablation_variant_method(v).title();
}

const std::vector<std::string>& ablation_noise_names() {
  static const std::vector<std::string> names = {"ellipse", "symmetric", "asymmetric", "sfda"};
  return names;
}

void AblationOptions::bind(OptionBinder& b) {
  b.bind("noise", &noise, "training labels: ellipse | symmetric | asymmetric | sfda");
  b.bind("seeds", &seeds, "training seeds 0..N-1");
  b.bind("variants", "comma list of rows: " + fmt::format("{}", fmt::join(ablation_variant_names(), ",")),
         [this] { return fmt::format("{}", fmt::join(variants, ",")); },
         [this](const std::string& t) { variants = split_list(t); });
  b.bind("out", &out, "Markdown report (empty: WORKDIR/ablation/<noise>.md)");
  b.bind("ellipse-rate", &ellipse_rate, "ellipse perturbation strength");
  b.bind("symmetric-rate", &symmetric_rate, "symmetric flip rate");
  b.bind("asymmetric-rate", &asymmetric_rate, "asymmetric flip rate");
  b.bind("unit", &unit, "region | pixel: what symmetric/asymmetric flip");
  b.bind("noise-seed", &noise_seed, "seed of the synthetic noise draw (seed 0's; seed s draws with noise-seed + s "
                                     "when --seed-varies all)");
  b.bind("seed-varies", &seed_varies,
         "all: each seed its own data (when generated), source model, pseudo labels and noise draw | order: the "
         "sample order and flips only (one source model and noise draw for every seed)");
}

double AblationOptions::rate_of(const std::string& kind) const {
  return kind == "ellipse" ? ellipse_rate : kind == "symmetric" ? symmetric_rate : asymmetric_rate;
}

void AblationOptions::check() const {
  const auto& kinds = ablation_noise_names();
  if (std::find(kinds.begin(), kinds.end(), noise) == kinds.end())
    throw UserError(fmt::format("--noise: expected one of {}, got '{}'", fmt::join(kinds, ", "), noise));
  for (auto [name, r] : {std::pair{"ellipse-rate", ellipse_rate}, std::pair{"symmetric-rate", symmetric_rate},
                         std::pair{"asymmetric-rate", asymmetric_rate}})
    if (!(r >= 0.0 && r <= 1.0)) throw UserError(fmt::format("--{} must be in [0, 1], got {}", name, r));
  parse_noise_unit(unit);
  if (seeds < 1 || seeds > 100) throw UserError(fmt::format("--seeds must be in 1..100, got {}", seeds));
  if (noise_seed < 0) throw UserError("--noise-seed must be >= 0");
  if (seed_varies != "all" && seed_varies != "order")
    throw UserError(fmt::format("--seed-varies: expected all or order, got '{}'", seed_varies));
  if (variants.empty()) throw UserError("--variants: name at least one variant");
  for (const auto& v : variants) ablation_variant_title(v);
}

void AblationTrainOptions::bind(OptionBinder& b) {
  OptionBinder d = b.section("data"), r = b.section("retrain"), e = b.section("estimate_ntm");
  data.bind(d);
  train.bind(d);
  val.bind(d);
  test.bind(d);
  retrain.bind(r);
  estimator.bind(e);
}

void AblationTrainOptions::check() const {
  train.check();
  val.check();
  test.check();
  retrain.check();
  estimator.check();
}

namespace {

struct PipelineSeed {
  int64_t seed = 0;
  void bind(OptionBinder& b) { bind_seed(b, &seed); }
  void check() const { check_seed(seed); }
};

}  // namespace

Ablation::Ablation(const PipelinePlan& plan, AblationOptions options, const DerivePipeline& derive)
    : o_(std::move(options)) {
  o_.check();
  train_ = plan.context().values().get<AblationTrainOptions>();
  if (o_.quick) {
    o_.seeds = 1;
    train_.retrain.epochs = std::min(2, train_.retrain.epochs);
    train_.retrain.warmup_epochs = std::min(1, train_.retrain.warmup_epochs);
  }
  train_.check();
  if (train_.retrain.ntm_init == NtmInit::estimate && ntm_estimator(train_.estimator.estimator).needs_clean_labels)
    throw UserError(fmt::format("--estimate_ntm.estimator {}: the ablation initialises the NTMs without ground truth; "
                                "choose an estimator that needs none",
                                train_.estimator.estimator));
  plans_.push_back(&plan);
  const int64_t pipeline_seed = plan.context().values().get<PipelineSeed>().seed;
  for (int seed = 1; seed < o_.seeds; ++seed)
    plans_.push_back(o_.seed_varies == "order"
                         ? &plan
                         : &derive({{"seed", std::to_string(pipeline_seed + seed)},
                                    {"workdir", (plan.context().workdir() / "ablation" / fmt::format("seed{}", seed))
                                                    .string()}}));
  pseudo_labels(0);
}

const PlannedStage& Ablation::pseudo_labels(int seed) const {
  const PlannedStage* p = plan(seed).find({"pseudo_label", 0});
  if (!p) throw std::logic_error("ablation: the pipeline plan has no pseudo_label[0]");
  return *p;
}

std::filesystem::path Ablation::report_path() const {
  if (!o_.out.empty()) return o_.out;
  return plan(0).context().workdir() / "ablation" / (o_.noise + (o_.quick ? "-quick" : "") + ".md");
}

std::string Ablation::noise_of(const std::string& variant) const {
  return variant == reference_row::upper_bound ? "clean" : o_.noise;
}

int64_t Ablation::noise_seed_of(int seed) const { return o_.noise_seed + (o_.seed_varies == "all" ? seed : 0); }

std::string Ablation::labels_description(const std::string& noise, int seed) const {
  if (noise == "clean") return "clean labels";
  if (noise == "sfda")
    return o_.seed_varies == "all" && seed > 0
               ? fmt::format("pseudo labels of seed {}'s source model (its pseudo_label[0])", seed)
               : "pseudo labels of the source model (pseudo_label[0])";
  const double rate = o_.rate_of(noise);
  return fmt::format("{} noise, rate {}{}, noise seed {}", noise, rate,
                     noise == "ellipse" ? std::string() : " per " + o_.unit, noise_seed_of(seed));
}

// Each seed's runs lie in its own work directory (seed 0's and, with seed_varies = order, every
// seed's: the work directory itself).
std::filesystem::path Ablation::run_path(const std::string& variant, int seed) const {
  return plan(seed).context().workdir() / "ablation" / noise_of(variant) / fmt::format("{}-seed{}.h5", variant, seed);
}

void Ablation::prepare_seed(int seed) {
  if (seed > 0 && &plan(seed) != &plan(0))
    log::info("seed {}: its own data, source model and pseudo labels in {}", seed, plan(seed).context().workdir().string());
  PipelineRunner runner(plan(seed));
  for (const StageKey& key : {StageKey{"data", 0}, StageKey{"source", 0}, StageKey{"pseudo_label", 0}})
    runner.ensure(key);
}

void Ablation::prepare() {
  prepare_seed(0);
  const auto& ctx = plan(0).context();
  if (!target_has_labels(ctx, train_.data))
    throw UserError(fmt::format("the ablation needs the target's ground truth ({}/{}): the clean labels, the noise, "
                                "model selection and the test scores all use it",
                                train_.data.target_root(ctx.workdir()).string(), train_.data.label_dir));
}

Ablation::Labels Ablation::training_labels(const std::string& noise, int seed) {
  // Labels are shared by the seeds that share a pipeline (hence a noise draw and pseudo labels).
  const std::pair<std::string, int64_t> key{noise, noise_seed_of(seed)};
  auto it = labels_.find(key);
  if (it != labels_.end()) return it->second;
  const auto& ctx = plan(seed).context();
  auto train = open_target(ctx, train_.data, train_.train.name, true);
  const int k = train.num_classes();
  torch::Tensor pseudo;
  if (noise == "sfda") {
    pseudo = PseudoLabels::read(pseudo_labels(seed).path()).labels;
    if (pseudo.size(0) != static_cast<int64_t>(train.size()))
      throw UserError(fmt::format("{}: {} pseudo labels for {} training images; re-run pseudo_label[0]",
                                  pseudo_labels(seed).path().string(), pseudo.size(0), train.size()));
  }
  NoiseOptions no;
  no.seed = static_cast<uint64_t>(noise_seed_of(seed));
  no.num_classes = k;
  no.unit = parse_noise_unit(o_.unit);
  if (noise != "clean" && noise != "sfda") {
    no.kind = parse_noise_kind(noise);
    no.rate = o_.rate_of(noise);
  }
  LabelNoiseStats stats(k);
  std::vector<torch::Tensor> maps;
  ProgressBar bar(fmt::format("labels ({})", noise), static_cast<int64_t>(train.size()), "img");
  for (size_t i = 0; i < train.size(); ++i) {
    torch::Tensor clean = train.get(i).label;  // at the input size, as trained on
    torch::Tensor noisy;
    if (noise == "clean") {
      noisy = clean;
    } else if (noise == "sfda") {
      noisy = pseudo[static_cast<int64_t>(i)].to(torch::kUInt8);
    } else {
      // Noise is drawn on the native label (the geometry `jcas noise` sees), then resized like the clean one.
      cv::Mat native = train.read_label(i);
      cv::Mat m = apply_label_noise(native, no, label_noise_stream(no.seed, train.names()[i]));
      if (m.rows != clean.size(0) || m.cols != clean.size(1))
        cv::resize(m, m, cv::Size(static_cast<int>(clean.size(1)), static_cast<int>(clean.size(0))), 0, 0,
                   cv::INTER_NEAREST);
      noisy = label_mat_to_tensor(m);
    }
    if (noisy.sizes() != clean.sizes())
      throw UserError(fmt::format("{} labels of {} are {}x{}, the input size is {}x{}", noise, train.names()[i],
                                  noisy.size(0), noisy.size(1), clean.size(0), clean.size(1)));
    stats.add(clean, noisy);
    maps.push_back(noisy);
    bar.advance();
  }
  bar.finish();
  Labels l;
  l.labels = torch::stack(maps);
  l.class_dist = class_distribution(l.labels, k);
  auto rep = stats.report();
  l.rates = {noise, labels_description(noise, seed), rep.class_noise_rate, rep.affinity_noise_rate, rep.class_dist_clean,
             rep.class_dist_noisy};
  labels_[key] = l;
  return l;
}

AblationTrainOptions Ablation::run_options(const std::string& variant) const {
  AblationTrainOptions o = train_;
  o.retrain.method = ablation_variant_method(variant).name();
  if (!ablation_variant_method(variant).corrects()) {
    o.retrain.ntm_init = NtmInit::identity;
    o.estimator.estimator = "identity";
  }
  return o;
}

CachedJob Ablation::job(const std::string& variant, int seed) {
  const std::string noise = noise_of(variant);
  // Bound while at their defaults (which an option added later is compared with), then set.
  AblationTrainOptions options;
  OptionBinder b;
  options.bind(b);
  options = run_options(variant);
  // The run's own settings, recorded with the pipeline options it trains with.
  nlohmann::json own = {{"variant", variant}, {"seed", std::to_string(seed)}, {"noise", noise}};
  if (noise != "clean" && noise != "sfda") {
    double rate = o_.rate_of(noise);
    own["rate"] = fmt::format("{}", rate);
    own["noise_seed"] = std::to_string(noise_seed_of(seed));
    if (noise != "ellipse") own["unit"] = o_.unit;
  }
  std::string text;
  for (const auto& [key, value] : own.items()) text += key + "=" + value.get<std::string>() + "\n";
  text += canonical_text(b.bindings());
  CachedJob j;
  j.stage = "ablation";
  j.label = fmt::format("{}/{} seed {}", noise, variant, seed);
  j.path = run_path(variant, seed);
  // The starting model and, for sfda and the NTM estimate, its pseudo labels.
  j.inputs["pseudo_label[0]"] = pseudo_labels(seed).fingerprint();
  j.fingerprint = job_fingerprint(j.stage, 0, text, j.inputs);
  j.options = bindings_json(b.bindings());
  j.options.update(own);
  j.compute = [this, variant, seed, fp = j.fingerprint](H5Writer& out) { return train_one(variant, seed, fp, out); };
  return j;
}

Metrics Ablation::train_one(const std::string& variant, int seed, const std::string& fp, H5Writer& out) {
  const auto& ctx = plan(seed).context();
  const AblationTrainOptions o = run_options(variant);
  const auto& execution = ctx.execution();
  Labels l = training_labels(noise_of(variant), seed);
  torch::manual_seed(static_cast<uint64_t>(seed));
  // Every variant starts from the source model, as the adaptation does.
  StoredModel model = load_model(ctx, {"source", 0});
  const int k = model.net->num_classes();
  auto train = open_target(ctx, o.data, o.train.name, false);
  auto val = open_target(ctx, o.data, o.val.name, true);
  const InferenceMode inference = o.retrain.inference();

  RetrainData data;
  data.images = &train;
  data.labels = l.labels;
  data.class_dist = l.class_dist;
  if (o.retrain.ntm_init == NtmInit::estimate) {
    // T_C from the source model's probabilities against the training labels (no ground truth),
    // T_A derived from it, as the estimate_ntm and derive_affinity stages do for pseudo labels.
    data.initial_class_ntm =
        estimate_class_ntm_from(PseudoLabels::read(pseudo_labels(seed).path()), l.labels, o.estimator.estimator, k);
    data.initial_affinity_ntm =
        class_to_affinity(data.initial_class_ntm.to(torch::kFloat64), l.class_dist.to(torch::kFloat64))
            .to(torch::kFloat32);
  }
  data.validate = [&](SegmentationModel& m) {
    return evaluate_model(m, val, inference, execution, "validate").mean_jaccard;
  };
  TrainerOptions run;
  run.seed = static_cast<uint64_t>(seed);
  run.label = fmt::format("{}/{} seed {}", noise_of(variant), variant, seed);
  run.checkpoint = run_path(variant, seed);
  run.checkpoint.replace_extension(".ckpt.h5");
  run.checkpoint_key = fp;
  Retrained r = retrain_model(*model.net, o.retrain, data, run, execution);
  auto test = open_target(ctx, o.data, o.test.name, true);
  SegmentationReport rep = evaluate_model(*model.net, test, inference, execution, "test");

  r.loss->to(torch::kCPU);
  if (auto tc = r.loss->class_transition()) {
    out.write("learned_class_ntm", tc->matrix().detach(), "clean class, noisy class (end of training)");
    if (data.initial_class_ntm.defined())
      out.write("initial_class_ntm", data.initial_class_ntm, "clean class, noisy class (estimated, no ground truth)");
  }
  out.write("test_confusion", rep.confusion, "ground truth class, predicted class; pixels");
  std::vector<double> val_scores, losses;
  for (const auto& e : r.result.epochs) {
    val_scores.push_back(e.validation);
    losses.push_back(e.loss);
  }
  out.write("epoch_val_mjac", torch::tensor(val_scores, torch::kFloat64), "epoch; validation mean Jaccard");
  out.write("epoch_loss", torch::tensor(losses, torch::kFloat64), "epoch; mean total loss");
  out.attr("/", "training_labels", l.rates.description);
  Metrics metrics;
  for (size_t i = 0; i < rep.dice.size(); ++i) {
    metrics[fmt::format("test_dice_{}", i + 1)] = rep.dice[i];
    metrics[fmt::format("test_jac_{}", i + 1)] = rep.jaccard[i];
  }
  metrics[metric::test_mdice] = rep.mean_dice;
  metrics[metric::test_mjac] = rep.mean_jaccard;
  metrics["val_mjac"] = r.result.epochs[r.result.selected_epoch - 1].validation;
  metrics["selected_epoch"] = r.result.selected_epoch;
  metrics["epochs"] = o.retrain.epochs;
  metrics["classes"] = k;
  std::filesystem::remove(run.checkpoint);
  return metrics;
}

std::vector<AblationRun> Ablation::run_all() {
  std::vector<AblationRun> runs;
  const int total = o_.seeds * static_cast<int>(o_.variants.size());
  int index = 0;
  // Seed-major: an interrupted ablation already has every row for its first seeds.
  for (int seed = 0; seed < o_.seeds; ++seed) {
    if (seed > 0) prepare_seed(seed);
    for (const auto& variant : o_.variants) {
      ++index;
      CachedJob j = job(variant, seed);
      CacheStatus status = cache_status(j);
      const bool cached = status.state == CacheState::done;
      if (status.state == CacheState::stale) log::info("[{}/{}] {}: {}, re-running", index, total, j.label, status.reason);
      if (!cached) log::info("[{}/{}] run  {}", index, total, j.label);
      StageRecord record = cached ? *status.record : run_job(j, plan(seed).context().execution().is_writer());
      const Metrics& m = record.metrics;
      AblationRun run;
      run.variant = variant;
      run.seed = seed;
      run.cached = cached;
      run.labels = labels_description(noise_of(variant), seed);
      run.seconds = record.seconds;
      const int k = static_cast<int>(m.at("classes"));
      for (int ci = 1; ci < k; ++ci) {
        run.dice.push_back(m.at(fmt::format("test_dice_{}", ci)));
        run.jaccard.push_back(m.at(fmt::format("test_jac_{}", ci)));
      }
      run.mean_dice = m.at(metric::test_mdice);
      run.mean_jaccard = m.at(metric::test_mjac);
      run.val_mjac = m.at("val_mjac");
      run.selected_epoch = static_cast<int>(m.at("selected_epoch"));
      run.epochs = static_cast<int>(m.at("epochs"));
      if (cached)
        log::info("[{}/{}] skip {} (cached: test mDice {:.2f} %)", index, total, j.label, 100 * run.mean_dice);
      else
        log::info("[{}/{}] {}: test mDice {:.2f} %, mJac {:.2f} % (epoch {} of {}, {})", index, total, j.label,
                  100 * run.mean_dice, 100 * run.mean_jaccard, run.selected_epoch, run.epochs,
                  format_duration(run.seconds));
      runs.push_back(run);
    }
  }
  return runs;
}

std::vector<NoiseRateRow> Ablation::noise_rates() {
  std::vector<NoiseRateRow> rows;
  for (const auto& kind : ablation_noise_names()) rows.push_back(training_labels(kind, 0).rates);
  return rows;
}

// Every run of a seed starts from that seed's source model (and, with seed_varies = all, its labels),
// so rows are compared seed by seed: each row against CE, and JCAS against each row.
std::string Ablation::paired_tables(const std::vector<AblationRun>& runs, int seeds) const {
  const std::string ce = "ce", jcas = "jcas";
  std::map<std::string, std::vector<double>> dice, jac;  // by variant: per seed, NaN where not run
  for (const auto& r : runs) {
    for (auto* m : {&dice, &jac})
      if (!m->count(r.variant)) (*m)[r.variant].assign(static_cast<size_t>(seeds), NAN);
    dice[r.variant][static_cast<size_t>(r.seed)] = r.mean_dice;
    jac[r.variant][static_cast<size_t>(r.seed)] = r.mean_jaccard;
  }
  auto table = [&](const std::string& title, auto difference) {
    std::string t = "\n" + title +
                    " (percentage points; mean over seeds [95 % t-interval] boot [95 % percentile bootstrap "
                    "interval], seeds above):\n\n| Method | mDice | mJac |\n|---|---|---|\n";
    int rows = 0;
    for (const auto& v : o_.variants) {
      const std::string row = dice.count(v) ? difference(v) : std::string();  // empty: the row compared with
      if (row.empty()) continue;
      t += row;
      ++rows;
    }
    return rows ? t : std::string();
  };
  std::string md;
  if (dice.count(ce))
    md += table("Each row minus Baseline (CE) of the same seed, in test", [&](const std::string& v) {
      if (v == ce) return std::string();
      return fmt::format("| {} | {} | {} |\n", ablation_variant_title(v), pct(paired_difference(dice[v], dice[ce])),
                         pct(paired_difference(jac[v], jac[ce])));
    });
  if (dice.count(jcas))
    md += table("JCAS minus each row of the same seed, in test", [&](const std::string& v) {
      if (v == jcas) return std::string();
      return fmt::format("| {} | {} | {} |\n", ablation_variant_title(v), pct(paired_difference(dice[jcas], dice[v])),
                         pct(paired_difference(jac[jcas], jac[v])));
    });
  return md;
}

std::string Ablation::markdown(const std::vector<AblationRun>& runs, const std::vector<NoiseRateRow>& rates,
                               double wall_seconds) const {
  const auto& ctx = plan(0).context();
  const auto& c = train_;
  auto info = read_dataset_info(c.data.target_root(ctx.workdir()).string());
  std::vector<std::string> classes(info.class_names.begin() + 1, info.class_names.end());
  const size_t nc = classes.size();
  int max_seed = 0;
  for (const auto& r : runs) max_seed = std::max(max_seed, r.seed + 1);
  const bool own_pipelines = o_.seed_varies == "all" && max_seed > 1;
  const bool drawn = o_.noise != "sfda";  // synthetic noise (the upper bound's clean labels draw nothing)

  std::string md = fmt::format("## Ablation: {}{}{}\n\n", labels_description(o_.noise, 0),
                               !own_pipelines ? "" : drawn ? " (seed 0's; each seed its own source model and draw)"
                                                           : " (each seed its own source model)",
                               o_.quick ? " (quick)" : "");
  if (max_seed > 1)
    md += own_pipelines
            ? fmt::format("Seed s ≥ 1 is a pipeline of its own (the pipeline seed + s, in `ablation/seed<s>/`): its own "
                          "{}source model and pseudo labels{}, and its own sample order; seed 0 is the work "
                          "directory's pipeline.\n\n",
                          c.data.synthetic() ? "generated data, " : "",
                          drawn ? fmt::format(", its own noise draw (noise seed {} + s)", o_.noise_seed) : "")
            : fmt::format("The seeds change the sample order and flips only: one source model{} for every run.\n\n",
                          drawn ? fmt::format(" and one noise draw (noise seed {})", o_.noise_seed) : "");
  md += fmt::format(
      "Test Dice and Jaccard (%) per class and their mean over the foreground classes, per image as the reference "
      "scores them; mean ± sample standard deviation over {} seed(s). Every run trains the source model on the "
      "target split `{}` for {} epochs ({} warm-up epochs without correction for the correcting variants), batch "
      "{}, lr {}, and keeps the epoch with the best mean Jaccard on the split `{}`; the split `{}` is scored once "
      "at the end.\n\n",
      max_seed, c.train.name, c.retrain.epochs, c.retrain.warmup_epochs, c.retrain.batch_size, c.retrain.lr,
      c.val.name, c.test.name);

  std::string head = "| Method | Aff. | DAR | CALC |";
  std::string rule = "|---|:-:|:-:|:-:|";
  for (const auto& name : classes) head += fmt::format(" Dice {} |", name), rule += "--:|";
  head += " **mDice** |", rule += "--:|";
  for (const auto& name : classes) head += fmt::format(" Jac {} |", name), rule += "--:|";
  head += " **mJac** | seeds |", rule += "--:|--:|";
  md += head + "\n" + rule + "\n";
  for (const auto& v : o_.variants) {
    std::vector<const AblationRun*> rs;
    for (const auto& r : runs)
      if (r.variant == v) rs.push_back(&r);
    if (rs.empty()) continue;
    const AdaptationMethod& m = ablation_variant_method(v);
    auto mark = [&](bool on) { return std::string(on ? "✓" : ""); };
    const JcasComponents on = m.components();
    std::string row = fmt::format("| {} | {} | {} | {} |", ablation_variant_title(v), mark(on.affinity), mark(on.dar),
                                  mark(on.calc));
    auto column = [&](auto get) {
      std::vector<double> xs;
      for (const auto* r : rs) xs.push_back(get(*r));
      return pct(spread(xs));
    };
    for (size_t i = 0; i < nc; ++i) row += " " + column([&](const AblationRun& r) { return r.dice.at(i); }) + " |";
    row += " **" + column([](const AblationRun& r) { return r.mean_dice; }) + "** |";
    for (size_t i = 0; i < nc; ++i) row += " " + column([&](const AblationRun& r) { return r.jaccard.at(i); }) + " |";
    row += " **" + column([](const AblationRun& r) { return r.mean_jaccard; }) + "** |";
    row += fmt::format(" {} |", rs.size());
    md += row + "\n";
  }
  md += paired_tables(runs, max_seed);

  const bool estimate = c.retrain.ntm_init == NtmInit::estimate;
  md += fmt::format(
      "\nNTM initialisation of the correcting variants (+CALC, JCAS, VolMin): {}.\n",
      estimate ? fmt::format("T_C estimated with the `{}` estimator from the source model's probabilities on the "
                             "training images against the training labels (no ground truth), T_A derived from it "
                             "in closed form",
                             c.estimator.estimator)
               : std::string("identity (the reference's W = −2)"));

  md += "\n### Runs\n\n| Variant | Seed | Training labels | Test mDice | Test mJac | Val mJac | Kept epoch | Time |\n"
        "|---|--:|---|--:|--:|--:|--:|--:|\n";
  double train_seconds = 0;
  for (const auto& r : runs) {
    train_seconds += r.seconds;
    md += fmt::format("| {} | {} | {} | {:.2f} | {:.2f} | {:.2f} | {}/{} | {}{} |\n", r.variant, r.seed, r.labels, 100 * r.mean_dice, 100 * r.mean_jaccard, 100 * r.val_mjac,
                      r.selected_epoch, r.epochs, format_duration(r.seconds), r.cached ? " (cached)" : "");
  }
  md += fmt::format("\nTraining and evaluation time of these runs, when they ran: {} in total. This invocation: {}.\n",
                    format_duration(train_seconds), format_duration(wall_seconds));

  if (!rates.empty()) {
    md += fmt::format("\n### Noise rates of the training labels{}\n\n", o_.seed_varies == "all" ? " (seed 0's)" : "");
    md += "Against the clean labels of the training split, at the "
          "training resolution: class noise rate = flipped pixels / pixels, affinity noise rate = flipped ordered "
          "pixel pairs within an image / pairs (DESIGN §3.2, §7).\n\n"
          "| Training labels | Class noise rate | Affinity noise rate | Class distribution (clean → noisy) |\n"
          "|---|--:|--:|---|\n";
    for (const auto& r : rates)
      md += fmt::format("| {} | {:.2f} % | {:.2f} % | {} → {} |\n", r.description, 100 * r.class_rate,
                        100 * r.affinity_rate, dist_text(r.class_dist_clean), dist_text(r.class_dist_noisy));
  }
  return md;
}

}  // namespace jcas
