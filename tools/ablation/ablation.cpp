#include "tools/ablation/ablation.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <opencv2/imgproc.hpp>

#include "adapters/io/h5_store.h"
#include "adapters/io/segmentation_dataset.h"
#include "data/label_noise.h"
#include "pipeline/cache/stage_record.h"
#include "adapters/foundation/error.h"
#include "adapters/foundation/log.h"
#include "adapters/foundation/progress.h"
#include "pipeline/method/class_to_affinity.h"
#include "pipeline/method/ntm_estimators.h"
#include "pipeline/metrics/label_noise_stats.h"
#include "stages/inference.h"
#include "stages/loss_options.h"
#include "stages/stage_inputs.h"
#include "stages/trainer.h"

namespace jcas {
namespace {

constexpr int kAblationFormat = 1;

// The options that change a run's result besides its variant, seed and labels. The loss switches
// of [retrain] are left out: every variant sets its own.
const std::vector<std::string> kTrainKeys = {
    "retrain.epochs", "retrain.warmup_epochs", "retrain.batch_size", "retrain.lr", "retrain.ntm_lr",
    "retrain.momentum", "retrain.weight_decay", "retrain.lambda", "retrain.volume_weight",
    "retrain.consistency_weight", "retrain.affinity_grid", "retrain.affinity_impl", "retrain.affinity_ignore",
    "model.", "data.target", "data.image_dir", "data.label_dir", "data.input_size", "data.train_split",
    "data.val_split", "data.test_split"};
const std::vector<std::string> kNtmKeys = {"retrain.ntm_init", "estimate_ntm.estimator"};

// Labels sampled at the centre of each stride x stride block, matching the pooled probabilities of
// pseudo_label (as estimate_ntm samples them).
torch::Tensor at_prob_resolution(const torch::Tensor& labels, int64_t stride, int64_t h, int64_t w) {
  using torch::indexing::None;
  using torch::indexing::Slice;
  return labels.index({Slice(), Slice(stride / 2, None, stride), Slice(stride / 2, None, stride)})
      .index({Slice(), Slice(0, h), Slice(0, w)});
}

torch::Tensor class_distribution(const torch::Tensor& labels, int k) {
  auto flat = labels.reshape({-1}).to(torch::kLong);
  flat = flat.index({flat != 255});
  auto counts = torch::bincount(flat, {}, k).to(torch::kFloat64);
  return (counts / std::max(1.0, counts.sum().item<double>())).to(torch::kFloat32);
}

struct Spread {
  double mean = NAN, sd = NAN;
  int n = 0;
};

Spread spread(const std::vector<double>& xs) {
  Spread s;
  std::vector<double> v;
  for (double x : xs)
    if (std::isfinite(x)) v.push_back(x);
  s.n = static_cast<int>(v.size());
  if (v.empty()) return s;
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / v.size();
  if (v.size() > 1) {
    double ss = 0;
    for (double x : v) ss += (x - s.mean) * (x - s.mean);
    s.sd = std::sqrt(ss / (v.size() - 1));  // sample standard deviation over seeds
  }
  return s;
}

std::string pct(const Spread& s) {
  if (s.n == 0) return "–";
  if (!std::isfinite(s.sd)) return fmt::format("{:.2f}", 100 * s.mean);
  return fmt::format("{:.2f} ± {:.2f}", 100 * s.mean, 100 * s.sd);
}

std::string dist_text(const std::vector<double>& d) {
  std::string out = "[";
  for (size_t i = 0; i < d.size(); ++i) out += fmt::format("{}{:.3f}", i ? ", " : "", d[i]);
  return out + "]";
}

}  // namespace

const std::vector<std::string>& ablation_variant_names() {
  static const std::vector<std::string> names = {"upper_bound", "ce",   "affinity", "dar",
                                                 "calc",        "jcas", "volmin",   "sparsereg"};
  return names;
}

std::string ablation_variant_title(const std::string& v) {
  if (v == "upper_bound") return "Upper bound (clean labels, CE)";
  if (v == "ce") return "Baseline (CE)";
  if (v == "affinity") return "+ Affinity";
  if (v == "dar") return "+ Affinity + DAR";
  if (v == "calc") return "+ Affinity + CALC";
  if (v == "jcas") return "JCAS (Affinity + DAR + CALC)";
  if (v == "volmin") return "VolMin";
  if (v == "sparsereg") return "SparseReg";
  throw UserError(fmt::format("unknown ablation variant '{}': expected one of {}", v,
                              fmt::join(ablation_variant_names(), ", ")));
}

JcasLossOptions ablation_variant_loss(const std::string& v, JcasLossOptions o) {
  ablation_variant_title(v);  // validates the name
  auto set = [&](const char* method, bool aff, bool dar, bool calc) {
    o.method = method;
    o.affinity = aff;
    o.dar = dar;
    o.calc = calc;
    return o;
  };
  if (v == "upper_bound" || v == "ce") return set("ce", false, false, false);
  if (v == "affinity") return set("jcas", true, false, false);
  if (v == "dar") return set("jcas", true, true, false);
  if (v == "calc") return set("jcas", true, false, true);
  if (v == "jcas") return set("jcas", true, true, true);
  if (v == "volmin") return set("volmin", false, false, false);
  return set("sparsereg", false, false, false);
}

bool ablation_variant_corrects(const std::string& v) { return v == "calc" || v == "jcas" || v == "volmin"; }

const std::vector<std::string>& ablation_noise_names() {
  static const std::vector<std::string> names = {"ellipse", "symmetric", "asymmetric", "sfda"};
  return names;
}

void AblationOptions::validate() const {
  const auto& kinds = ablation_noise_names();
  if (std::find(kinds.begin(), kinds.end(), noise) == kinds.end())
    throw UserError(fmt::format("--noise: expected one of {}, got '{}'", fmt::join(kinds, ", "), noise));
  for (auto [name, r] : {std::pair{"ellipse-rate", ellipse_rate}, std::pair{"symmetric-rate", symmetric_rate},
                         std::pair{"asymmetric-rate", asymmetric_rate}})
    if (!(r >= 0.0 && r <= 1.0)) throw UserError(fmt::format("--{} must be in [0, 1], got {}", name, r));
  parse_noise_unit(unit);
  if (seeds < 1 || seeds > 100) throw UserError(fmt::format("--seeds must be in 1..100, got {}", seeds));
  if (noise_seed < 0) throw UserError("--noise-seed must be >= 0");
  if (variants.empty()) throw UserError("--variants: name at least one variant");
  for (const auto& v : variants) ablation_variant_title(v);
}

Ablation::Ablation(const PipelinePlan& plan, AblationOptions options) : plan_(plan), o_(std::move(options)) {
  o_.validate();
  const auto& config = plan_.context().config();
  std::map<std::string, std::string> values = config.values();
  if (o_.quick) {
    o_.seeds = 1;
    values["retrain.epochs"] = std::to_string(std::min(2, config.integer("retrain.epochs")));
    values["retrain.warmup_epochs"] = std::to_string(std::min(1, config.integer("retrain.warmup_epochs")));
  }
  train_config_ = PipelineConfig::with_defaults(values);
  // Same checks as the retrain stage, on the values the ablation trains with.
  loss_options(train_config_);
  const int epochs = train_config_.integer("retrain.epochs"), warm = train_config_.integer("retrain.warmup_epochs");
  if (epochs < 1) throw UserError("--retrain.epochs must be >= 1");
  if (warm < 0 || warm > epochs) throw UserError("--retrain.warmup_epochs must be in 0..retrain.epochs");
  if (train_config_.integer("retrain.batch_size") < 1) throw UserError("--retrain.batch_size must be >= 1");
  const auto& init = train_config_.text("retrain.ntm_init");
  if (init != "estimate" && init != "identity")
    throw UserError(fmt::format("--retrain.ntm_init: expected estimate or identity, got '{}'", init));
  const auto& est = train_config_.text("estimate_ntm.estimator");
  if (init == "estimate" && est != "confident" && est != "anchor" && est != "identity")
    throw UserError(fmt::format(
        "--estimate_ntm.estimator {}: the ablation initialises the NTMs without ground truth; use confident, "
        "anchor or identity",
        est));
  if (!plan_.find({"pseudo_label", 0})) throw std::logic_error("ablation: the pipeline plan has no pseudo_label[0]");
}

std::filesystem::path Ablation::report_path() const {
  if (!o_.out.empty()) return o_.out;
  return plan_.context().workdir() / "ablation" / (o_.noise + (o_.quick ? "-quick" : "") + ".md");
}

std::string Ablation::noise_of(const std::string& variant) const {
  return variant == "upper_bound" ? "clean" : o_.noise;
}

std::filesystem::path Ablation::run_path(const std::string& variant, int seed) const {
  return plan_.context().workdir() / "ablation" / noise_of(variant) / fmt::format("{}-seed{}.h5", variant, seed);
}

void Ablation::prepare() {
  PipelineRunner runner(plan_);
  for (const StageKey& key : {StageKey{"data", 0}, StageKey{"source", 0}, StageKey{"pseudo_label", 0}}) {
    const PlannedStage* p = plan_.find(key);
    if (!p) continue;  // no data stage for datasets on disk
    if (plan_.status(*p).state == StageState::done) {
      log::info("skip {} (cached)", key.label());
      continue;
    }
    runner.run_one(key);
  }
  if (!target_has_labels(plan_.context()))
    throw UserError(fmt::format("the ablation needs the target's ground truth ({}/{}): the clean labels, the noise, "
                                "model selection and the test scores all use it",
                                plan_.context().target_root().string(), plan_.context().config().text("data.label_dir")));
}

Ablation::Labels Ablation::training_labels(const std::string& noise) {
  auto it = labels_.find(noise);
  if (it != labels_.end()) return it->second;
  const auto& ctx = plan_.context();
  auto train = open_target(ctx, ctx.config().text("data.train_split"), true);
  const int k = train.num_classes();
  torch::Tensor pseudo;
  if (noise == "sfda") {
    H5Reader pl(ctx.result_path({"pseudo_label", 0}));
    pseudo = pl.read("labels");
    if (pseudo.size(0) != static_cast<int64_t>(train.size()))
      throw UserError(fmt::format("{}: {} pseudo labels for {} training images; re-run pseudo_label[0]",
                                  pl.path().string(), pseudo.size(0), train.size()));
  }
  NoiseOptions no;
  no.seed = static_cast<uint64_t>(o_.noise_seed);
  no.num_classes = k;
  no.unit = parse_noise_unit(o_.unit);
  std::string description;
  if (noise == "clean") {
    description = "clean labels";
  } else if (noise == "sfda") {
    description = "pseudo labels of the source model (pseudo_label[0])";
  } else {
    no.kind = parse_noise_kind(noise);
    no.rate = noise == "ellipse" ? o_.ellipse_rate : noise == "symmetric" ? o_.symmetric_rate : o_.asymmetric_rate;
    description = fmt::format("{} noise, rate {}{}, noise seed {}", noise, no.rate,
                              noise == "ellipse" ? std::string() : " per " + o_.unit, o_.noise_seed);
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
  l.rates = {noise, description, rep.class_noise_rate, rep.affinity_noise_rate, rep.class_dist_clean,
             rep.class_dist_noisy};
  labels_[noise] = l;
  return l;
}

std::string Ablation::fingerprint(const std::string& variant, int seed) const {
  const std::string noise = noise_of(variant);
  std::string text = fmt::format("ablation format={}\nvariant={}\nseed={}\nnoise={}\n", kAblationFormat, variant, seed, noise);
  if (noise != "clean" && noise != "sfda") {
    double rate = noise == "ellipse" ? o_.ellipse_rate : noise == "symmetric" ? o_.symmetric_rate : o_.asymmetric_rate;
    text += fmt::format("rate={}\nnoise_seed={}\n", rate, o_.noise_seed);
    if (noise != "ellipse") text += "unit=" + o_.unit + "\n";
  }
  text += train_config_.canonical(kTrainKeys);
  if (ablation_variant_corrects(variant)) text += train_config_.canonical(kNtmKeys);
  // The starting model and, for sfda and the NTM estimate, its pseudo labels.
  text += "input pseudo_label[0]=" + plan_.find({"pseudo_label", 0})->fingerprint + "\n";
  return hash_text(text);
}

std::pair<torch::Tensor, torch::Tensor> Ablation::initial_ntms(const torch::Tensor& labels,
                                                               const torch::Tensor& class_dist) {
  if (train_config_.text("retrain.ntm_init") != "estimate") return {};
  const auto& ctx = plan_.context();
  H5Reader pl(ctx.result_path({"pseudo_label", 0}));
  auto probs = pl.read("probabilities").to(torch::kFloat32);
  const int64_t k = probs.size(1), stride = pl.attr_int("/", "prob_stride");
  auto flat_probs = probs.permute({0, 2, 3, 1}).reshape({-1, k});
  auto flat_noisy = at_prob_resolution(labels, stride, probs.size(2), probs.size(3)).reshape({-1});
  auto t_c = estimate_class_ntm(train_config_.text("estimate_ntm.estimator"), flat_probs, flat_noisy, {},
                                static_cast<int>(k));
  auto t_a = class_to_affinity(t_c.to(torch::kFloat64), class_dist.to(torch::kFloat64)).to(torch::kFloat32);
  return {t_c, t_a};
}

AblationRun Ablation::train_one(const std::string& variant, int seed, const std::string& fp) {
  const auto& ctx = plan_.context();
  const auto& c = train_config_;
  auto t0 = std::chrono::steady_clock::now();
  Labels l = training_labels(noise_of(variant));
  const int k = target_num_classes(ctx);
  auto device = torch_device(ctx);
  torch::manual_seed(static_cast<uint64_t>(seed));
  // Every variant starts from the source model, as the adaptation does.
  DeepLab model = load_model(ctx, {"source", 0}, k);
  JcasLossOptions lo = ablation_variant_loss(variant, loss_options(c));
  JcasLoss loss(k, lo);
  std::optional<JcasLoss> warmup;
  torch::Tensor init_tc, init_ta;
  if (ablation_variant_corrects(variant)) {
    std::tie(init_tc, init_ta) = initial_ntms(l.labels, l.class_dist);
    if (init_tc.defined()) {
      // A sliver of identity keeps every diagonal positive, which the logit parameterisation needs.
      auto nudge = [](const torch::Tensor& t) { return 0.999 * t + 0.001 * torch::eye(t.size(0)); };
      loss->class_ntm->init_from(nudge(init_tc));
      loss->affinity_ntm->init_from(nudge(init_ta));
    }
    // The reference's warm-up: the same network terms without correction (VolMin: plain CE).
    JcasLossOptions w = lo;
    w.calc = false;
    if (w.method == "volmin") w.method = "ce";
    warmup.emplace(k, w);
  }
  TrainerOptions t;
  t.epochs = c.integer("retrain.epochs");
  t.warmup_epochs = warmup ? c.integer("retrain.warmup_epochs") : 0;
  t.batch_size = c.integer("retrain.batch_size");
  t.lr = c.number("retrain.lr");
  t.ntm_lr = c.number("retrain.ntm_lr");
  t.momentum = c.number("retrain.momentum");
  t.weight_decay = c.number("retrain.weight_decay");
  t.seed = static_cast<uint64_t>(seed);
  t.label = fmt::format("{}/{} seed {}", noise_of(variant), variant, seed);
  auto path = run_path(variant, seed);
  std::filesystem::create_directories(path.parent_path());
  t.checkpoint = path;
  t.checkpoint.replace_extension(".ckpt.h5");
  t.checkpoint_key = fp;

  auto train = open_target(ctx, ctx.config().text("data.train_split"), false);
  auto val = open_target(ctx, ctx.config().text("data.val_split"), true);
  auto score_on_val = [&](DeepLab& m) { return evaluate_model(m, val, lo, device, "validate").mean_jaccard; };
  auto result = train_model(model, loss, warmup ? &*warmup : nullptr, train, l.labels, l.class_dist, t, device,
                            score_on_val);
  auto test = open_target(ctx, ctx.config().text("data.test_split"), true);
  SegmentationReport rep = evaluate_model(model, test, lo, device, "test");

  AblationRun run;
  run.variant = variant;
  run.seed = seed;
  run.dice = rep.dice;
  run.jaccard = rep.jaccard;
  run.mean_dice = rep.mean_dice;
  run.mean_jaccard = rep.mean_jaccard;
  run.selected_epoch = result.selected_epoch;
  run.epochs = t.epochs;
  run.val_mjac = result.epochs[result.selected_epoch - 1].validation;
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  H5Writer out(path);
  loss->to(torch::kCPU);
  if (ablation_variant_corrects(variant)) {
    out.write("learned_class_ntm", loss->class_ntm->matrix().detach(), "clean class, noisy class (end of training)");
    if (init_tc.defined()) out.write("initial_class_ntm", init_tc, "clean class, noisy class (estimated, no ground truth)");
  }
  out.write("test_confusion", rep.confusion, "ground truth class, predicted class; pixels");
  std::vector<double> val_scores, losses;
  for (const auto& e : result.epochs) {
    val_scores.push_back(e.validation);
    losses.push_back(e.loss);
  }
  out.write("epoch_val_mjac", torch::tensor(val_scores, torch::kFloat64), "epoch; validation mean Jaccard");
  out.write("epoch_loss", torch::tensor(losses, torch::kFloat64), "epoch; mean total loss");
  out.attr("/", "training_labels", l.rates.description);
  StageRecord record;
  record.stage = "ablation";
  record.fingerprint = fp;
  record.options_json = c.json(kTrainKeys);
  record.inputs_json = fmt::format("{{\"pseudo_label[0]\": \"{}\"}}", plan_.find({"pseudo_label", 0})->fingerprint);
  record.seconds = run.seconds;
  for (size_t i = 0; i < rep.dice.size(); ++i) {
    record.metrics[fmt::format("test_dice_{}", i + 1)] = rep.dice[i];
    record.metrics[fmt::format("test_jac_{}", i + 1)] = rep.jaccard[i];
  }
  record.metrics["test_mdice"] = rep.mean_dice;
  record.metrics["test_mjac"] = rep.mean_jaccard;
  record.metrics["val_mjac"] = run.val_mjac;
  record.metrics["selected_epoch"] = run.selected_epoch;
  record.metrics["epochs"] = run.epochs;
  record.metrics["classes"] = k;
  write_record(out, record);
  out.commit();
  std::filesystem::remove(t.checkpoint);
  return run;
}

std::vector<AblationRun> Ablation::run_all() {
  std::vector<AblationRun> runs;
  const int total = o_.seeds * static_cast<int>(o_.variants.size());
  int index = 0;
  // Seed-major: an interrupted ablation already has every row for its first seeds.
  for (int seed = 0; seed < o_.seeds; ++seed) {
    for (const auto& variant : o_.variants) {
      ++index;
      const std::string fp = fingerprint(variant, seed);
      const auto path = run_path(variant, seed);
      if (std::filesystem::exists(path)) {
        try {
          StageRecord r = read_record(path);
          if (r.stage == "ablation" && r.fingerprint == fp) {
            AblationRun run;
            run.variant = variant;
            run.seed = seed;
            run.cached = true;
            run.seconds = r.seconds;
            const int k = static_cast<int>(r.metrics.at("classes"));
            for (int ci = 1; ci < k; ++ci) {
              run.dice.push_back(r.metrics.at(fmt::format("test_dice_{}", ci)));
              run.jaccard.push_back(r.metrics.at(fmt::format("test_jac_{}", ci)));
            }
            run.mean_dice = r.metrics.at("test_mdice");
            run.mean_jaccard = r.metrics.at("test_mjac");
            run.val_mjac = r.metrics.at("val_mjac");
            run.selected_epoch = static_cast<int>(r.metrics.at("selected_epoch"));
            run.epochs = static_cast<int>(r.metrics.at("epochs"));
            log::info("[{}/{}] skip {}/{} seed {} (cached: test mDice {:.2f} %)", index, total, noise_of(variant),
                      variant, seed, 100 * run.mean_dice);
            runs.push_back(run);
            continue;
          }
          log::info("[{}/{}] {}/{} seed {}: options changed, re-running", index, total, noise_of(variant), variant, seed);
        } catch (const std::exception& e) {
          log::info("[{}/{}] {}: unusable ({}), re-running", index, total, path.string(), e.what());
        }
      }
      log::info("[{}/{}] run  {}/{} seed {}", index, total, noise_of(variant), variant, seed);
      runs.push_back(train_one(variant, seed, fp));
      const auto& r = runs.back();
      log::info("[{}/{}] {}/{} seed {}: test mDice {:.2f} %, mJac {:.2f} % (epoch {} of {}, {})", index, total,
                noise_of(variant), variant, seed, 100 * r.mean_dice, 100 * r.mean_jaccard, r.selected_epoch, r.epochs,
                format_duration(r.seconds));
    }
  }
  return runs;
}

std::vector<NoiseRateRow> Ablation::noise_rates() {
  std::vector<NoiseRateRow> rows;
  for (const auto& kind : ablation_noise_names()) rows.push_back(training_labels(kind).rates);
  return rows;
}

std::string Ablation::markdown(const std::vector<AblationRun>& runs, const std::vector<NoiseRateRow>& rates,
                               double wall_seconds) const {
  const auto& ctx = plan_.context();
  const auto& c = train_config_;
  auto info = read_dataset_info(ctx.target_root().string());
  std::vector<std::string> classes(info.class_names.begin() + 1, info.class_names.end());
  const size_t nc = classes.size();
  auto label_desc = [&](const std::string& noise) {
    auto it = labels_.find(noise);
    return it == labels_.end() ? noise : it->second.rates.description;
  };

  std::string md = fmt::format("## Ablation: {}{}\n\n", label_desc(o_.noise), o_.quick ? " (quick)" : "");
  int max_seed = 0;
  for (const auto& r : runs) max_seed = std::max(max_seed, r.seed + 1);
  md += fmt::format(
      "Test Dice and Jaccard (%) per class and their mean over the foreground classes, per image as the reference "
      "scores them; mean ± sample standard deviation over {} seed(s). Every run trains the source model on the "
      "target split `{}` for {} epochs ({} warm-up epochs without correction for the correcting variants), batch "
      "{}, lr {}, and keeps the epoch with the best mean Jaccard on the split `{}`; the split `{}` is scored once "
      "at the end.\n\n",
      max_seed, ctx.config().text("data.train_split"), c.integer("retrain.epochs"),
      c.integer("retrain.warmup_epochs"), c.integer("retrain.batch_size"), c.text("retrain.lr"),
      ctx.config().text("data.val_split"), ctx.config().text("data.test_split"));

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
    JcasLossOptions lo = ablation_variant_loss(v, {});
    auto mark = [&](bool on) { return std::string(on ? "✓" : ""); };
    const bool jcas = lo.method == "jcas";
    std::string row = fmt::format("| {} | {} | {} | {} |", ablation_variant_title(v), mark(jcas && lo.affinity),
                                  mark(jcas && lo.dar), mark(jcas && lo.calc));
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

  const bool estimate = c.text("retrain.ntm_init") == "estimate";
  md += fmt::format(
      "\nNTM initialisation of the correcting variants (+CALC, JCAS, VolMin): {}.\n",
      estimate ? fmt::format("T_C estimated with the `{}` estimator from the source model's probabilities on the "
                             "training images against the training labels (no ground truth), T_A derived from it "
                             "in closed form",
                             c.text("estimate_ntm.estimator"))
               : std::string("identity (the reference's W = −2)"));

  md += "\n### Runs\n\n| Variant | Seed | Training labels | Test mDice | Test mJac | Val mJac | Kept epoch | Time |\n"
        "|---|--:|---|--:|--:|--:|--:|--:|\n";
  double train_seconds = 0;
  for (const auto& r : runs) {
    train_seconds += r.seconds;
    md += fmt::format("| {} | {} | {} | {:.2f} | {:.2f} | {:.2f} | {}/{} | {}{} |\n", r.variant, r.seed,
                      noise_of(r.variant), 100 * r.mean_dice, 100 * r.mean_jaccard, 100 * r.val_mjac,
                      r.selected_epoch, r.epochs, format_duration(r.seconds), r.cached ? " (cached)" : "");
  }
  md += fmt::format("\nTraining and evaluation time of these runs, when they ran: {} in total. This invocation: {}.\n",
                    format_duration(train_seconds), format_duration(wall_seconds));

  if (!rates.empty()) {
    md += "\n### Noise rates of the training labels\n\nAgainst the clean labels of the training split, at the "
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
