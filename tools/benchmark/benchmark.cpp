#include "tools/benchmark/benchmark.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "adapters/foundation/child_process.h"
#include "adapters/foundation/error.h"
#include "adapters/foundation/interrupt.h"
#include "adapters/foundation/log.h"
#include "adapters/foundation/options.h"
#include "adapters/foundation/progress.h"
#include "adapters/foundation/temporary_path.h"
#include "adapters/io/file_writes.h"
#include "data/synthetic_endoscopy.h"
#include "pipeline/cache/stage_record.h"
#include "pipeline/metrics/label_free_criteria.h"
#include "pipeline/training/adaptation_registry.h"
#include "pipeline/training/reference_rows.h"
#include "pipeline/execution/execution_context.h"
#include "pipeline/runner/option_schema.h"
#include "pipeline/runner/stage.h"
#include "stages/pipeline_stages.h"
#include "tools/report/seed_spread.h"
#include "stages/stage_metrics.h"


namespace fs = std::filesystem;

namespace jcas {
namespace {

// torchrun's variables: a child `jcas run` is one process of its own, whatever started jcas.
const std::set<std::string> kTorchrunVariables = {
    "RANK",       "WORLD_SIZE",        "LOCAL_RANK",  "LOCAL_WORLD_SIZE", "GROUP_RANK",
    "GROUP_WORLD_SIZE", "ROLE_RANK",   "ROLE_WORLD_SIZE", "ROLE_NAME",    "MASTER_ADDR",
    "MASTER_PORT", "TORCHELASTIC_RUN_ID", "TORCHELASTIC_RESTART_COUNT", "TORCHELASTIC_MAX_RESTARTS",
    "TORCHELASTIC_USE_AGENT_STORE", "TORCHELASTIC_ERROR_FILE"};

std::string pct(double x) { return std::isfinite(x) ? fmt::format("{:.2f}", 100 * x) : "–"; }

// The method of a --methods entry: "jcas" of "jcas@estimate_ntm.estimator=posterior".
std::string entry_method(const std::string& entry) { return entry.substr(0, entry.find('@')); }

std::string method_title(const std::string& entry) {
  const std::string m = entry_method(entry);
  if (m == reference_row::source) return fmt::format("{} ({})", entry, reference_row::source_title);
  if (m == reference_row::upper_bound) return fmt::format("{} ({})", entry, reference_row::upper_bound_title);
  try {
    return fmt::format("{} ({})", entry, adaptation_method(m).title());
  } catch (const UserError&) {
    return entry;
  }
}

std::string now_text() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

// Stages a child ran, from its log: `jcas run` and `jcas stage --ensure` end with "N stage(s) run".
int stages_run_in(const fs::path& log) {
  std::ifstream f(log);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string text = ss.str();
  static const std::regex re(R"((\d+) stage\(s\) run)");
  int n = -1;
  for (std::sregex_iterator it(text.begin(), text.end(), re), end; it != end; ++it) n = std::stoi((*it)[1]);
  return n;
}

// A copy of the base work directory for a method's run: results, data, checkpoints and the
// digest memo; not the logs, the lock or another process's temporaries.
void copy_workdir(const fs::path& from, const fs::path& to) {
  TemporaryPath tmp(to);
  fs::create_directories(tmp.path());
  for (auto it = fs::recursive_directory_iterator(from); it != fs::recursive_directory_iterator(); ++it) {
    const fs::path rel = fs::relative(it->path(), from);
    const std::string name = it->path().filename().string();
    if (rel.string().rfind("benchmark", 0) == 0 || rel == "jcas.log" || rel == fs::path(".jcas") / "lock" ||
        (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0)) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (it->is_directory())
      fs::create_directories(tmp.path() / rel);
    else if (it->is_regular_file())
      fs::copy_file(it->path(), tmp.path() / rel, fs::copy_options::overwrite_existing);
  }
  tmp.commit();
}

// `text` in the canonical form of the pipeline option `key` (UserError for a value it refuses);
// nullopt: no such option.
std::optional<std::string> canonical_pipeline_value(const std::string& key, const std::string& text) {
  auto stages = pipeline_stages();
  OptionSchema schema(stages);
  const auto& bindings = schema.bindings();
  const auto b = std::find_if(bindings.begin(), bindings.end(), [&](const OptionBinding& x) { return x.key == key; });
  if (b == bindings.end()) return std::nullopt;
  return canonical_value(*b, text);
}

// A method's tuning knob with its values in the option's canonical text ("0.10" -> "0.1"), the form
// the pipeline's resolved option values take, so values compare as text.
TuningKnob canonical_knob(const std::string& method) {
  TuningKnob knob = adaptation_method(method).tuning_knob();
  for (auto& v : knob.values) {
    const auto canonical = canonical_pipeline_value(knob.key, v);
    if (!canonical)
      throw std::logic_error(fmt::format("{}'s tuning knob {} is not a pipeline option", method, knob.key));
    v = *canonical;
  }
  return knob;
}

// The last part of an option's key: "affinity_weight" of "retrain.affinity_weight".
std::string short_key(const std::string& key) { return key.substr(key.rfind('.') + 1); }

}  // namespace

std::string BenchmarkRun::name() const {
  return variant ? fmt::format("{}@{}={}", method, short_key(knob), value) : method;
}

std::vector<std::string> benchmark_default_methods() {
  return {reference_row::source, "adabn", "tent", "ce", "ce_prior", "cbst", "dpl", "volmin", "jcas", "jcas_dpl",
          reference_row::upper_bound};
}

std::vector<std::string> benchmark_quick_methods() { return {reference_row::source, "ce", "jcas"}; }

std::string MethodSpec::text() const {
  std::string t = method;
  for (const auto& [key, value] : options) t += "@" + key + "=" + value;
  return t;
}

MethodSpec parse_benchmark_method(const std::string& entry, bool has_truth_labels) {
  MethodSpec spec;
  const auto parts = split_list(entry, '@');
  spec.method = entry_method(entry);
  if (spec.method == reference_row::upper_bound && !has_truth_labels)
    throw UserError("--methods: upper_bound trains CE on the target's true labels (--retrain.labels truth), which "
                    "this build of the pipeline does not have yet");
  if (spec.method != reference_row::source && spec.method != reference_row::upper_bound) {
    try {
      adaptation_method(spec.method);
    } catch (const UserError&) {
      throw UserError(fmt::format("--methods: unknown method '{}': expected source, upper_bound or one of {}",
                                  spec.method, adaptation_method_names()));
    }
  }
  // What the benchmark itself sets for each run (and upper_bound's own recipe).
  std::set<std::string> reserved = {"workdir", "seed", "synth.shift", "retrain.method", "evaluate.adapted",
                                    "evaluate.val"};
  if (spec.method == reference_row::upper_bound) reserved.insert({"retrain.labels", "rounds"});
  for (size_t i = 1; i < parts.size(); ++i) {
    const std::string& part = parts[i];
    const size_t eq = part.find('=');
    const std::string key = part.substr(0, eq);
    if (eq == std::string::npos || key.empty())
      throw UserError(fmt::format(
          "--methods: '{}': expected METHOD@KEY=VALUE (e.g. jcas@estimate_ntm.estimator=posterior), got '{}'", entry,
          part));
    if (spec.method == reference_row::source)
      throw UserError(fmt::format("--methods: '{}': source adapts nothing, so it takes no options (give them to every "
                                  "run as --{} instead)", entry, key));
    if (reserved.count(key))
      throw UserError(fmt::format("--methods: '{}': the benchmark sets --{} of each run", entry, key));
    const auto value = canonical_pipeline_value(key, part.substr(eq + 1));
    if (!value) throw UserError(fmt::format("--methods: '{}': --{} is not a pipeline option", entry, key));
    if (value->find('/') != std::string::npos)
      throw UserError(fmt::format("--methods: '{}': a value with '/' cannot be part of a work directory's name; give "
                                  "--{} to every run instead, or a name without it", entry, key));
    for (const auto& [k, v] : spec.options)
      if (k == key) throw UserError(fmt::format("--methods: '{}': --{} is given twice", entry, key));
    spec.options.emplace_back(key, *value);
  }
  return spec;
}

std::string benchmark_shift_text(double shift) { return fmt::format("{}", shift); }

void BenchmarkOptions::bind(OptionBinder& b) {
  b.bind("methods",
         "comma list of methods: source (no adaptation), upper_bound (CE on the target's true labels), or a "
         "--retrain.method name; METHOD@KEY=VALUE[@KEY=VALUE] runs a method with pipeline options of its own, a row "
         "of its own (e.g. jcas@estimate_ntm.estimator=posterior)",
         [this] { return fmt::format("{}", fmt::join(methods, ",")); },
         [this](const std::string& t) { methods = split_list(t); });
  b.bind("seeds", &seeds, "pipeline seeds 0..N-1 (--seed: data, initialisation, sample order)");
  b.bind("shifts", "comma list of target shift strengths (--synth.shift, 0..3)",
         [this] {
           std::vector<std::string> t;
           for (double s : shifts) t.push_back(benchmark_shift_text(s));
           return fmt::format("{}", fmt::join(t, ","));
         },
         [this](const std::string& t) { shifts = parse_number_list(t, "shifts"); });
  b.bind("jobs", &jobs, "child runs at once on this machine (each gets --threads CPUs/jobs unless --threads is given)");
  b.bind("transductive", &transductive,
         "also score every model on the target split it adapted on, as test-time adaptation papers score "
         "(--evaluate.adapted; needs that split's labels)");
  b.bind("tune", &tune,
         "an equal tuning budget: every method also at each value of its main knob (the same number for every "
         "method; README: Equal tuning budget), every model scored on the target val split too, and the "
         "configuration chosen by val labels and by the label-free criterion reported side by side");
  b.bind("out", &out, "Markdown report (empty: WORKDIR/benchmark/report.md; the plot is written beside it as .png)");
}

void BenchmarkOptions::check() const {
  if (methods.empty()) throw UserError("--methods: name at least one method");
  std::set<std::string> seen;
  for (const auto& m : methods)
    if (!seen.insert(m).second) throw UserError(fmt::format("--methods: '{}' is listed twice", m));
  if (seeds < 1 || seeds > 100) throw UserError(fmt::format("--seeds must be in 1..100, got {}", seeds));
  if (shifts.empty()) throw UserError("--shifts: name at least one shift strength");
  std::set<std::string> shift_names;
  for (double s : shifts) {
    if (!(s >= kMinSyntheticShift && s <= kMaxSyntheticShift))
      throw UserError(fmt::format("--shifts: {} is out of range ({}..{})", s, kMinSyntheticShift, kMaxSyntheticShift));
    if (!shift_names.insert(benchmark_shift_text(s)).second)
      throw UserError(fmt::format("--shifts: {} is listed twice", s));
  }
  if (jobs < 1 || jobs > 256) throw UserError(fmt::format("--jobs must be in 1..256, got {}", jobs));
}

struct Benchmark::Task {
  bool base = false;       // the (shift, seed)'s shared stages
  double shift = 1;
  int seed = 0;
  int run = -1;            // index into runs_ (method tasks)
  fs::path dir, log;
  pid_t pid = -1;
  std::chrono::steady_clock::time_point start;
  std::string what() const;
};

Benchmark::Benchmark(BenchmarkOptions options, BenchmarkSetup setup) : o_(std::move(options)), setup_(std::move(setup)) {
  o_.check();
  std::map<std::string, MethodSpec> specs;  // canonical entry -> its method and options
  for (auto& m : o_.methods) {
    MethodSpec spec = parse_benchmark_method(m, setup_.has_truth_labels);
    m = spec.text();
    if (!specs.emplace(m, spec).second) throw UserError(fmt::format("--methods: '{}' is listed twice", m));
  }
  for (double shift : o_.shifts)
    for (int seed = 0; seed < o_.seeds; ++seed)
      for (const auto& m : o_.methods) {
        BenchmarkRun r;
        r.shift = shift;
        r.seed = seed;
        r.method = m;
        r.dir = m == reference_row::source ? base_dir(shift, seed) : base_dir(shift, seed).parent_path() / m;
        const MethodSpec& spec = specs.at(m);
        r.options = spec.options;
        r.retrain_method = spec.method;
        if (o_.tune && spec.method != reference_row::source && spec.method != reference_row::upper_bound &&
            !knobs_.count(m))
          knobs_[m] = canonical_knob(spec.method);
        const auto knob = knobs_.find(m);
        if (knob == knobs_.end() || knob->second.key.empty()) {
          runs_.push_back(r);
          continue;
        }
        // The pipeline's own value is the main run; the knob's other values are variants.
        const std::vector<std::string>& values = knob->second.values;
        r.knob = knob->second.key;
        r.value = setup_.option_values.at(r.knob);
        for (const auto& [key, value] : r.options)
          if (key == r.knob) r.value = value;
        r.candidate = std::count(values.begin(), values.end(), r.value) > 0;
        runs_.push_back(r);
        for (const auto& v : values) {
          if (v == r.value) continue;
          BenchmarkRun t = r;
          t.value = v;
          t.variant = t.candidate = true;
          t.dir = r.dir.parent_path() / t.name();
          runs_.push_back(t);
        }
      }
  std::string id = setup_.command_line;
  for (const char* v : {"MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID"})
    if (const char* e = std::getenv(v)) id += std::string(" ") + v + "=" + e;
  token_ = hash_text(id);
  started_ = static_cast<int64_t>(std::time(nullptr));
}

fs::path Benchmark::base_dir(double shift, int seed) const {
  return root() / ("shift" + benchmark_shift_text(shift)) / fmt::format("seed{}", seed) / "base";
}

fs::path Benchmark::result_json(const BenchmarkRun& run) const {
  return base_dir(run.shift, run.seed).parent_path() / (run.name() + ".result.json");
}

fs::path Benchmark::report_path() const { return o_.out.empty() ? root() / "report.md" : fs::path(o_.out); }

fs::path Benchmark::plot_path() const {
  fs::path p = report_path();
  p.replace_extension(".png");
  return p;
}

int Benchmark::rounds_of(const BenchmarkRun& run) const {
  return run.retrain_method == reference_row::upper_bound ? 1 : setup_.rounds;
}

std::string Benchmark::Task::what() const {
  return base ? fmt::format("base (data, source model) shift {} seed {}", benchmark_shift_text(shift), seed)
              : fmt::format("run shift {} seed {}", benchmark_shift_text(shift), seed);
}

std::vector<std::string> Benchmark::child_args(const BenchmarkRun* run, double shift, int seed) const {
  std::vector<std::string> a;
  std::set<std::string> replaced;
  if (!run) {
    a = {"stage", "evaluate_source", "--ensure", "--workdir", base_dir(shift, seed).string()};
    if (o_.transductive) a.insert(a.begin() + 2, "evaluate_adapted_source");
    if (o_.tune) a.insert(a.begin() + 2, "evaluate_val_source");
    if (setup_.world_size > 1) a.push_back("--wait");  // another rank may be making the same base
  } else {
    a = {"run", "--workdir", run->dir.string()};
    if (run->retrain_method == reference_row::upper_bound) {
      a.insert(a.end(), {"--retrain.method", "ce", "--retrain.labels", "truth", "--rounds", "1"});
      replaced.insert("rounds");
    } else {
      a.insert(a.end(), {"--retrain.method", run->retrain_method});
    }
    for (const auto& [key, value] : run->options)
      if (!(run->variant && key == run->knob)) a.insert(a.end(), {"--" + key, value}), replaced.insert(key);
    if (run->variant) a.insert(a.end(), {"--" + run->knob, run->value}), replaced.insert(run->knob);
  }
  a.insert(a.end(), {"--seed", std::to_string(seed), "--synth.shift", benchmark_shift_text(shift)});
  if (o_.transductive) a.insert(a.end(), {"--evaluate.adapted", "true"}), replaced.insert("evaluate.adapted");
  if (o_.tune) a.insert(a.end(), {"--evaluate.val", "true"}), replaced.insert("evaluate.val");
  // "{seed}" in a value gives each seed its own file (e.g. --source.torchscript model_s{seed}.pt).
  for (const auto& [key, tokens] : setup_.passthrough)
    if (!replaced.count(key))
      for (std::string t : tokens) {
        for (size_t at; (at = t.find("{seed}")) != std::string::npos;) t.replace(at, 6, std::to_string(seed));
        a.push_back(std::move(t));
      }
  return a;
}

void Benchmark::read_scores(BenchmarkRun& run) const {
  // The child's work directory seen as a pipeline with the benchmark's rounds: the result files
  // of evaluate_source and evaluate[r] (scoring the model after r+1 rounds), read through their records.
  auto stages = pipeline_stages();
  OptionSchema schema(stages);
  OptionValues values = schema.defaults({{"workdir", run.dir.string()}});
  RunOptions ro = values.get<RunOptions>();
  StageContext ctx(values, ro, ExecutionContext(), stages);
  const int rounds = run.method == reference_row::source ? setup_.rounds : rounds_of(run);
  // Each score by the metric key its evaluation records.
  const std::pair<std::string, std::vector<double>*> scores[] = {{metric::test_mjac, &run.mjac},
                                                                  {metric::test_mdice, &run.mdice},
                                                                  {metric::adapted_mjac, &run.adapted_mjac},
                                                                  {metric::adapted_mdice, &run.adapted_mdice},
                                                                  {metric::val_mjac, &run.val_mjac},
                                                                  {metric::val_mdice, &run.val_mdice},
                                                                  {metric::criterion(kDefaultCriterion), &run.criterion}};
  for (const auto& [key, values] : scores) values->assign(setup_.rounds + 1, NAN);
  auto read = [&](const StageKey& stage, int column) {
    const fs::path file = ctx.result_path(stage);
    if (!fs::exists(file)) return;
    const Metrics m = read_record(file).metrics;
    for (const auto& [key, values] : scores)
      if (auto it = m.find(key); it != m.end()) (*values)[column] = it->second;
  };
  read({"evaluate_source", 0}, 0);
  read({"evaluate_adapted_source", 0}, 0);
  read({"evaluate_val_source", 0}, 0);
  read({"criteria_source", 0}, 0);
  // What adapting took, whenever it ran: the recorded times of the round stages other than the
  // evaluations (the source model and its scores are the base's, shared by every method).
  run.adaptation_seconds = 0;
  run.threads.clear();
  if (run.method != reference_row::source)
    for (int r = 0; r < rounds; ++r) {
      const fs::path dir = ctx.round_dir(r);
      if (!fs::is_directory(dir)) continue;
      for (const auto& entry : fs::directory_iterator(dir)) {
        const std::string name = entry.path().filename().string();
        if (entry.path().extension() != ".h5" || name.find(".checkpoint") != std::string::npos ||
            name.rfind("evaluate", 0) == 0)
          continue;
        try {
          const StageRecord record = read_record(entry.path());
          run.adaptation_seconds += record.seconds;
          if (record.threads > 0) run.threads.insert(record.threads);
        } catch (const std::exception&) {  // a partial or foreign file is not a result: nothing to add
        }
      }
    }
  for (int r = 1; r <= rounds; ++r) {
    if (run.method == reference_row::source) {
      for (const auto& [key, values] : scores) (*values)[r] = (*values)[0];
    } else {
      read({"evaluate", r - 1}, r);
      read({"evaluate_adapted", r - 1}, r);
      read({"evaluate_val", r - 1}, r);
      read({"criteria", r - 1}, r);
    }
  }
}

namespace {
// A run's score columns in its summary file, by key (0 = the source model, r = after round r).
const std::pair<const char*, std::vector<double> BenchmarkRun::*> kSummaryColumns[] = {
    {"test_mdice", &BenchmarkRun::mdice},       {"test_mjac", &BenchmarkRun::mjac},
    {"adapted_mdice", &BenchmarkRun::adapted_mdice}, {"adapted_mjac", &BenchmarkRun::adapted_mjac},
    {"val_mdice", &BenchmarkRun::val_mdice},    {"val_mjac", &BenchmarkRun::val_mjac}};

std::string criterion_column() { return std::string("criterion_") + kDefaultCriterion; }
}  // namespace

void Benchmark::read_result(BenchmarkRun& run) const {
  const fs::path file = result_json(run);
  nlohmann::json j;
  try {
    std::ifstream in(file);
    in >> j;
    run.seconds = j.at("seconds").get<double>();
    run.adaptation_seconds = j.at("adaptation_seconds").get<double>();
    run.stages_run = j.at("stages_run").get<int>();
    run.threads = j.value("threads", std::set<int>{});
    auto column = [&](const std::string& key, std::vector<double>& v) {
      v.clear();
      for (const auto& x : j.at(key)) v.push_back(x.is_null() ? NAN : x.get<double>());
    };
    for (const auto& [key, field] : kSummaryColumns) column(key, run.*field);
    column(criterion_column(), run.criterion);
  } catch (const std::exception& e) {
    throw UserError(fmt::format("benchmark: {} is not a run summary this jcas wrote ({})", file.string(), e.what()));
  }
  run.done = true;
}

void Benchmark::finish_run(BenchmarkRun& run, double seconds, int stages_run) {
  run.seconds = seconds;
  run.stages_run = stages_run;
  read_scores(run);
  // The run's summary: its configuration, scores per column (0 = the source model, r = after round
  // r; null: not computed) and times. The report is built from these files (read back below), and
  // other tools (pandas, a plot of one's own) read them too.
  auto column = [](const std::vector<double>& v) {
    nlohmann::json a = nlohmann::json::array();
    for (double x : v) a.push_back(std::isfinite(x) ? nlohmann::json(x) : nlohmann::json());
    return a;
  };
  nlohmann::json j = {{"token", token_},
                      {"run", run.name()},
                      {"method", run.method},
                      {"shift", run.shift},
                      {"seed", run.seed},
                      {"workdir", run.dir.string()},
                      {"seconds", seconds},
                      {"adaptation_seconds", run.adaptation_seconds},
                      {"threads", run.threads},
                      {"stages_run", stages_run},
                      {"rank", setup_.rank},
                      {criterion_column(), column(run.criterion)}};
  for (const auto& [key, field] : kSummaryColumns) j[key] = column(run.*field);
  if (!run.knob.empty()) j["knob"] = {{"key", run.knob}, {"value", run.value}};
  for (const auto& [key, value] : run.options) j["options"][key] = value;
  write_text_file(result_json(run), j.dump(1) + "\n");
  read_result(run);
  std::vector<std::string> jac;
  for (size_t r = 1; r < run.mjac.size() && static_cast<int>(r) <= rounds_of(run); ++r) jac.push_back(pct(run.mjac[r]));
  log::info("done {} shift {} seed {}: test mJac (%) source model {} -> round(s) {} ({}{})", run.name(),
            benchmark_shift_text(run.shift), run.seed, pct(run.mjac[0]), fmt::join(jac, ", "), format_duration(seconds),
            stages_run == 0 ? ", cached: no stage ran" : stages_run > 0 ? fmt::format(", {} stage(s) run", stages_run) : "");
}

void Benchmark::run_mine() {
  std::vector<int> mine;
  for (size_t i = 0; i < runs_.size(); ++i)
    if (static_cast<int>(i) % setup_.world_size == setup_.rank) mine.push_back(static_cast<int>(i));
  // Tasks: one base per (shift, seed) that one of this rank's runs needs, then a task per run of
  // a method other than source (a source run is read from its base).
  std::vector<Task> pending;
  std::map<std::string, std::vector<int>> source_runs;  // base dir -> source runs read from it
  std::set<std::string> bases;
  for (int i : mine) {
    const BenchmarkRun& r = runs_[i];
    const fs::path base = base_dir(r.shift, r.seed);
    if (bases.insert(base.string()).second) {
      Task t;
      // Several ranks may each make (or wait for, then skip) the same base: one log per rank.
      t.base = true, t.shift = r.shift, t.seed = r.seed, t.dir = base;
      t.log = base / (setup_.rank == 0 ? std::string("benchmark.log") : fmt::format("benchmark-rank{}.log", setup_.rank));
      pending.push_back(t);
    }
    if (r.method == reference_row::source) {
      source_runs[base.string()].push_back(i);
    } else {
      Task t;
      t.shift = r.shift, t.seed = r.seed, t.run = i, t.dir = r.dir, t.log = r.dir / "benchmark.log";
      pending.push_back(t);
    }
  }
  std::stable_partition(pending.begin(), pending.end(), [](const Task& t) { return t.base; });
  std::set<std::string> bases_done;
  std::map<std::string, double> base_seconds;
  ProgressBar bar("benchmark", static_cast<int64_t>(mine.size()), "run");
  std::vector<Task> running;
  std::optional<std::string> failure;
  bool forwarded = false;

  auto start = [&](Task& t) {
    if (!t.base && !fs::exists(t.dir)) copy_workdir(base_dir(t.shift, t.seed), t.dir);
    fs::create_directories(t.dir);
    auto args = child_args(t.base ? nullptr : &runs_[t.run], t.shift, t.seed);
    std::vector<std::string> argv = {"jcas"};
    argv.insert(argv.end(), args.begin(), args.end());
    const int fd = ::open(t.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw UserError(fmt::format("cannot write {}: {}", t.log.string(), std::strerror(errno)));
    std::string header = "# jcas";
    for (const auto& a : args) header += " " + a;
    header += "\n";
    if (::write(fd, header.data(), header.size()) < 0) {
    }
    pid_t pid = -1;
    try {
      // Its own process group: a Ctrl-C reaches the benchmark, which forwards it once. The
      // torchrun variables are removed: a child is one process of its own.
      pid = start_self(argv, environment_with(kTorchrunVariables, shared_core_environment(o_.jobs)),
                       ChildOptions{fd, true}, t.what());
    } catch (...) {
      ::close(fd);
      throw;
    }
    ::close(fd);
    t.pid = pid;
    t.start = std::chrono::steady_clock::now();
    log::debug("started {} (pid {}): jcas {}", t.base ? t.what() : runs_[t.run].name() + " " + t.what(),
               static_cast<long>(pid), fmt::join(args, " "));
  };

  while (!pending.empty() || !running.empty()) {
    const bool stopping = failure || interrupt_requested();
    if (stopping && running.empty()) break;  // what is pending does not start
    if (interrupt_requested() && !forwarded) {
      for (const auto& t : running) kill(t.pid, interrupt_signal() ? interrupt_signal() : SIGINT);
      forwarded = true;
    }
    // Start what is ready, the bases first, unless stopping.
    if (!stopping) {
      for (auto it = pending.begin(); it != pending.end() && static_cast<int>(running.size()) < o_.jobs;) {
        if (!it->base && !bases_done.count(base_dir(it->shift, it->seed).string())) {
          ++it;
          continue;
        }
        start(*it);
        running.push_back(*it);
        it = pending.erase(it);
      }
    }
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    auto it = std::find_if(running.begin(), running.end(), [&](const Task& t) { return t.pid == pid; });
    if (pid > 0 && it != running.end()) {
      Task t = *it;
      running.erase(it);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t.start).count();
      const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      if (!ok) {
        const std::string name = t.base ? t.what() : runs_[t.run].name() + " " + t.what();
        const std::string msg = fmt::format("{} {}; see {}", name, exit_text(status), t.log.string());
        if (!interrupt_requested()) log::write(log::Level::quiet, "failed: " + msg);
        if (!failure) failure = msg;
        // What depended on a failed base cannot run.
        if (t.base)
          pending.erase(std::remove_if(pending.begin(), pending.end(),
                                       [&](const Task& p) { return p.shift == t.shift && p.seed == t.seed; }),
                        pending.end());
        continue;
      }
      if (t.base) {
        bases_done.insert(t.dir.string());
        for (int i : source_runs[t.dir.string()]) {
          finish_run(runs_[i], seconds, stages_run_in(t.log));
          bar.advance();
        }
      } else {
        finish_run(runs_[t.run], seconds, stages_run_in(t.log));
        bar.advance();
      }
      continue;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  bar.finish();
  check_interrupted();
  if (setup_.world_size > 1) {
    nlohmann::json j = {{"token", token_}, {"started", started_}, {"ok", !failure}, {"failure", failure.value_or("")}};
    write_text_file(root() / ".ranks" / fmt::format("rank{}.json", setup_.rank), j.dump() + "\n");
  }
  if (failure) throw UserError("benchmark: " + *failure);
}

void Benchmark::collect() {
  if (setup_.world_size <= 1 || setup_.rank != 0) return;
  // Every other rank writes .ranks/rank<r>.json when its runs are done, and a result file per run.
  // A rank's file counts when it belongs to this launch: the same token and a start within two
  // minutes of this rank's. The wait ends with an error when nothing new appeared for
  // max(--dist_timeout, 3 x the longest run seen) seconds.
  double longest = 0;
  for (const auto& r : runs_)
    if (r.done) longest = std::max(longest, r.seconds);
  const double patience = std::max<double>(setup_.dist_timeout, 3 * longest);
  auto last_progress = std::chrono::steady_clock::now();
  size_t seen_results = 0;
  log::info("waiting for the other {} rank(s) to finish their runs", setup_.world_size - 1);
  while (true) {
    check_interrupted();
    int finished = 0;
    for (int r = 1; r < setup_.world_size; ++r) {
      const fs::path f = root() / ".ranks" / fmt::format("rank{}.json", r);
      if (!fs::exists(f)) continue;
      nlohmann::json j;
      try {
        std::ifstream(f) >> j;
      } catch (const std::exception&) {
        continue;
      }
      if (j.value("token", "") != token_ || std::abs(j.value("started", int64_t{0}) - started_) > 120) continue;
      if (!j.value("ok", false)) throw UserError(fmt::format("benchmark: rank {}: {}", r, j.value("failure", "")));
      ++finished;
    }
    size_t results = 0;
    for (const auto& run : runs_)
      if (fs::exists(result_json(run))) ++results;
    if (results != seen_results) seen_results = results, last_progress = std::chrono::steady_clock::now();
    if (finished == setup_.world_size - 1) break;
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - last_progress).count() > patience)
      throw UserError(fmt::format("benchmark: the other ranks finished {} of their runs' results and nothing new came "
                                  "for {} s; giving up (their logs: <run>/benchmark.log under {})",
                                  results, patience, root().string()));
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  for (auto& run : runs_)
    if (!run.done) read_result(run);
}

std::string Benchmark::markdown(double wall_seconds) const {
  std::string md = "# SFDA benchmark\n\n";
  md += fmt::format("Command: `{}`\n\n", setup_.command_line);
  int cached = 0;
  for (const auto& r : runs_)
    if (r.stages_run == 0) ++cached;
  md += fmt::format("Written {}; wall time {}; {} run(s) ({} read from the cache: no stage ran); {} round(s); seeds "
                    "0..{}; {} process(es).\n\n",
                    now_text(), format_duration(wall_seconds), runs_.size(), cached, setup_.rounds, o_.seeds - 1,
                    setup_.world_size);
  std::set<int> threads;
  for (const auto& r : runs_) threads.insert(r.threads.begin(), r.threads.end());
  md += threads.empty() ? std::string("CPU threads per run: not recorded (older results).\n\n")
                        : fmt::format("CPU threads per run, as the adaptation stages recorded them: {}.\n\n",
                                      fmt::join(threads, ", "));
  md += "Scores on the target's test split, in %: mean ± sample sd over seeds (`--seed` changes the synthetic data "
        "when it is generated, the source model's initialisation when it is trained here, and every sample order; "
        "`{seed}` in an option's value gives each seed its own file, e.g. its own imported source model). Every "
        "method of a seed adapts that seed's source model, so methods are compared by paired per-seed differences "
        "(below each shift's tables). Round 0 is the source model; `source` repeats it "
        "in every round; `upper_bound` trains one round (CE on the target train split's true labels) and is shown "
        "in the round 1 column only. Work directories: `" +
        root().string() + "/shift<X>/seed<S>/<method>/` (`jcas status --workdir ...`).\n\n";
  if (fs::exists(plot_path())) md += fmt::format("![mean test mJac per round]({})\n\n", plot_path().filename().string());
  for (double shift : o_.shifts) {
    md += setup_.target.empty() ? fmt::format("## Shift {} (`--synth.shift {}`)\n\n", benchmark_shift_text(shift),
                                              benchmark_shift_text(shift))
                                : fmt::format("## Target `{}`\n\n", setup_.target);
    md += "Test mDice / mJac (%), mean ± sd over seeds.\n\n" + spread_table(shift, &BenchmarkRun::mdice, &BenchmarkRun::mjac);
    md += "\nTest mJac (%) of each seed, per round (source model, then rounds 1..R; in brackets the recorded wall "
          "time of the run's adaptation stages, however many invocations they took, evaluations excluded):\n\n"
          "| method |";
    for (int s = 0; s < o_.seeds; ++s) md += fmt::format(" seed {} |", s);
    md += "\n| --- |";
    for (int s = 0; s < o_.seeds; ++s) md += " --- |";
    md += "\n";
    for (const auto& m : o_.methods) {
      md += "| " + m + " |";
      for (int s = 0; s < o_.seeds; ++s) {
        const BenchmarkRun* run = nullptr;
        for (const auto& r : runs_)
          if (r.method == m && r.shift == shift && r.seed == s && r.done && !r.variant) run = &r;
        if (!run) {
          md += " – |";
          continue;
        }
        std::vector<std::string> v;
        for (int c = 0; c <= rounds_of(*run) && c < static_cast<int>(run->mjac.size()); ++c) v.push_back(pct(run->mjac[c]));
        md += fmt::format(" {} ({}) |", fmt::join(v, ", "), format_duration(run->adaptation_seconds));
      }
      md += "\n";
    }
    md += "\n" + paired_tables("test", &BenchmarkRun::mdice, &BenchmarkRun::mjac, main_runs(shift));
    md += label_free_table(shift);
    bool transductive = false;
    for (const auto& r : runs_)
      if (r.shift == shift && r.done)
        transductive |= std::any_of(r.adapted_mjac.begin(), r.adapted_mjac.end(), [](double x) { return std::isfinite(x); });
    if (transductive)
      md += "### Transductive: the split adapted on\n\nThe same models scored on the target split the rounds adapted "
            "on (its labels are read only to score; `upper_bound` trained on them, so its row is a fit, not a bound). "
            "mDice / mJac (%), mean ± sd over seeds.\n\n" +
            spread_table(shift, &BenchmarkRun::adapted_mdice, &BenchmarkRun::adapted_mjac) + "\n" +
            paired_tables("adapted-split", &BenchmarkRun::adapted_mdice, &BenchmarkRun::adapted_mjac, main_runs(shift));
    if (o_.tune) md += tuning_tables(shift);
  }
  return md;
}

std::string Benchmark::tuning_tables(double shift) const {
  // A method's configuration: the runs (one per seed) at one value of its knob, and their means
  // after the last round.
  struct Config {
    std::string value;
    std::vector<const BenchmarkRun*> runs;
    double val = NAN, criterion = NAN, test = NAN;
  };
  auto last_of = [&](const BenchmarkRun& r, const std::vector<double>& v) {
    const int c = std::min(rounds_of(r), static_cast<int>(v.size()) - 1);
    return c < 0 ? NAN : v[c];
  };
  auto mean_of = [&](const std::vector<const BenchmarkRun*>& runs, std::vector<double> BenchmarkRun::*field) {
    std::vector<double> v;
    for (const auto* r : runs)
      if (const double x = last_of(*r, r->*field); std::isfinite(x)) v.push_back(x);
    return v.empty() ? NAN : spread(v).mean;
  };
  auto argmax = [](const std::vector<Config>& cs, double Config::*field) {
    int best = -1;
    for (int i = 0; i < static_cast<int>(cs.size()); ++i)
      if (std::isfinite(cs[i].*field) && (best < 0 || cs[i].*field > cs[best].*field)) best = i;
    return best;
  };
  std::map<std::string, std::string> by_val, by_criterion;  // method -> chosen value (methods with a knob)
  std::string summary, detail;
  for (const auto& m : o_.methods) {
    if (entry_method(m) == reference_row::source || entry_method(m) == reference_row::upper_bound) continue;
    const TuningKnob knob = knobs_.count(m) ? knobs_.at(m) : TuningKnob{};
    const BenchmarkRun* own = main_runs(shift)(m, 0);
    const std::string own_test = [&] {
      std::vector<const BenchmarkRun*> rs;
      for (int s = 0; s < o_.seeds; ++s)
        if (const auto* r = main_runs(shift)(m, s)) rs.push_back(r);
      return pct(mean_of(rs, &BenchmarkRun::mdice));
    }();
    if (knob.key.empty()) {
      summary += fmt::format("| {} | (none) | 1 | – | – | – | – | – | {} |\n", m, own_test);
      continue;
    }
    std::vector<Config> configs;
    for (const auto& v : knob.values) {
      Config c;
      c.value = v;
      for (const auto& r : runs_)
        if (r.method == m && r.shift == shift && r.done && r.candidate && r.value == v) c.runs.push_back(&r);
      c.val = mean_of(c.runs, &BenchmarkRun::val_mdice);
      c.criterion = mean_of(c.runs, &BenchmarkRun::criterion);
      c.test = mean_of(c.runs, &BenchmarkRun::mdice);
      detail += fmt::format("| {} | {}={} | {} | {} | {} | {} |\n", m, short_key(knob.key), v, pct(c.val),
                            std::isfinite(c.criterion) ? fmt::format("{:.4f}", c.criterion) : "–", pct(c.test),
                            c.runs.size());
      configs.push_back(c);
    }
    const int v = argmax(configs, &Config::val), l = argmax(configs, &Config::criterion);
    if (v >= 0) by_val[m] = configs[v].value;
    if (l >= 0) by_criterion[m] = configs[l].value;
    summary += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", m, knob.key, configs.size(),
                           v < 0 ? "–" : configs[v].value, v < 0 ? "–" : pct(configs[v].test),
                           l < 0 ? "–" : configs[l].value, l < 0 ? "–" : pct(configs[l].test),
                           own ? own->value : "–", own_test);
  }
  // The chosen configuration's run of each method and seed; a method without a knob: its own run.
  auto chosen = [this, shift](const std::map<std::string, std::string>& choice) -> RunPick {
    return [this, shift, choice](const std::string& method, int seed) -> const BenchmarkRun* {
      const auto it = choice.find(method);
      if (it == choice.end()) return main_runs(shift)(method, seed);
      for (const auto& r : runs_)
        if (r.method == method && r.shift == shift && r.seed == seed && r.done && r.candidate &&
            r.value == it->second)
          return &r;
      return nullptr;
    };
  };
  const int R = setup_.rounds;
  std::string md = fmt::format(
      "\n### Equal tuning budget\n\nEvery method with a knob ran at each of its {} values (`--tune true`; the knobs and "
      "values are each method's `tuning_knob`, README: Equal tuning budget); the other options as given. One "
      "value per method is chosen for all seeds, from the means over seeds after round {}: by mDice on the target's "
      "labelled val split (an oracle: an SFDA user has no target labels) and by the label-free criterion `{}` on "
      "the images adapted on (no labels); ties go to the value listed first. Test mDice (%) of each choice, mean over seeds; \"as configured\": the "
      "run the tables above show. CE's only knob is the learning rate every method shares (the others keep it "
      "as configured).\n\n"
      "| method | knob | configurations | by val | test mDice | by `{}` | test mDice | as configured | test mDice |\n"
      "| --- | --- | --: | --: | --: | --: | --: | --: | --: |\n",
      kTuningBudget, R, kDefaultCriterion, kDefaultCriterion);
  md += summary;
  md += fmt::format(
      "\nEach configuration after round {}, mean over seeds: val mDice (%), the criterion `{}`, test mDice (%) "
      "(test chooses nothing).\n\n| method | configuration | val mDice | {} | test mDice | seeds |\n"
      "| --- | --- | --: | --: | --: | --: |\n",
      R, kDefaultCriterion, kDefaultCriterion);
  md += detail + "\n";
  md += paired_tables("test, each method as chosen by val,", &BenchmarkRun::mdice, &BenchmarkRun::mjac, chosen(by_val));
  md += paired_tables(fmt::format("test, each method as chosen by `{}`,", kDefaultCriterion), &BenchmarkRun::mdice,
                      &BenchmarkRun::mjac, chosen(by_criterion));
  return md;
}

std::string Benchmark::label_free_table(double shift) const {
  // Per method and seed: the model (source model or a round) the criterion ranks highest, its test
  // mJac, the last round's and the best one's in hindsight.
  struct Choice {
    std::vector<double> chosen, last, best;
    std::vector<int> picked;  // the chosen column per seed
    int best_picked = 0;
  };
  std::map<std::string, Choice> by_method;
  for (const auto& r : runs_) {
    if (r.shift != shift || !r.done || r.variant || r.method == reference_row::source) continue;
    const int last = std::min(rounds_of(r), static_cast<int>(r.mjac.size()) - 1);
    int pick = -1, best = -1;
    for (int c = 0; c <= last && c < static_cast<int>(r.criterion.size()); ++c) {
      if (!std::isfinite(r.criterion[c]) || !std::isfinite(r.mjac[c])) continue;
      if (pick < 0 || r.criterion[c] > r.criterion[pick]) pick = c;
      if (best < 0 || r.mjac[c] > r.mjac[best]) best = c;
    }
    if (pick < 0) continue;
    Choice& ch = by_method[r.method];
    ch.chosen.push_back(r.mjac[pick]);
    ch.last.push_back(r.mjac[last]);
    ch.best.push_back(r.mjac[best]);
    ch.picked.push_back(pick);
    ch.best_picked += r.mjac[pick] == r.mjac[best];
  }
  if (by_method.empty()) return "";
  std::string md = fmt::format(
      "\n### Choosing the model without labels (`{}`)\n\nEach run's models (the source model and every round's) "
      "ranked by the label-free criterion `{}` on the images adapted on (README: Choosing without labels; `jcas "
      "select`): test mJac (%) of the model it chooses, of the last round and of the best model in hindsight "
      "(the test labels only score the choice), mean over seeds; regret = best − chosen; the models chosen per "
      "seed (0 = the source model, r = after round r).\n\n"
      "| method | chosen | last round | best in hindsight | regret | chose the best | chosen per seed |\n"
      "| --- | --: | --: | --: | --: | --: | --- |\n",
      kDefaultCriterion, kDefaultCriterion);
  for (const auto& m : o_.methods) {
    auto it = by_method.find(m);
    if (it == by_method.end()) continue;
    const Choice& ch = it->second;
    std::vector<double> regret;
    for (size_t i = 0; i < ch.best.size(); ++i) regret.push_back(ch.best[i] - ch.chosen[i]);
    md += fmt::format("| {} | {} | {} | {} | {} | {}/{} | {} |\n", method_title(m), pct(spread(ch.chosen).mean),
                      pct(spread(ch.last).mean), pct(spread(ch.best).mean), pct(spread(regret).mean), ch.best_picked,
                      ch.chosen.size(), fmt::join(ch.picked, ", "));
  }
  return md + "\n";
}

std::string Benchmark::spread_table(double shift, std::vector<double> BenchmarkRun::*dice,
                                    std::vector<double> BenchmarkRun::*jac) const {
  std::string md = "| method | source model |";
  for (int r = 1; r <= setup_.rounds; ++r) md += fmt::format(" round {} |", r);
  md += " n |\n| --- | --- |";
  for (int r = 1; r <= setup_.rounds; ++r) md += " --- |";
  md += " --: |\n";
  for (const auto& m : o_.methods) {
    std::vector<const BenchmarkRun*> rs;
    for (const auto& r : runs_)
      if (r.method == m && r.shift == shift && r.done && !r.variant) rs.push_back(&r);
    md += "| " + method_title(m) + " |";
    for (int c = 0; c <= setup_.rounds; ++c) {
      std::vector<double> d, j;
      for (const auto* r : rs)
        if (c < static_cast<int>((r->*jac).size())) d.push_back((r->*dice)[c]), j.push_back((r->*jac)[c]);
      const Spread sd = spread(d), sj = spread(j);
      md += sj.n == 0 ? " – |" : fmt::format(" {} / {} |", pct(sd), pct(sj));
    }
    md += fmt::format(" {} |\n", rs.size());
  }
  return md;
}

RunPick Benchmark::main_runs(double shift) const {
  return [this, shift](const std::string& method, int seed) -> const BenchmarkRun* {
    for (const auto& r : runs_)
      if (r.method == method && r.shift == shift && r.seed == seed && r.done && !r.variant) return &r;
    return nullptr;
  };
}

std::string Benchmark::paired_tables(const std::string& split, std::vector<double> BenchmarkRun::*dice,
                                     std::vector<double> BenchmarkRun::*jac, const RunPick& pick) const {
  // Per seed: the method's score after round c, and the source model's (column 0).
  auto scores = [&](const std::string& method, int column, bool use_dice) {
    std::vector<double> v(o_.seeds, NAN);
    for (int s = 0; s < o_.seeds; ++s)
      if (const BenchmarkRun* r = pick(method, s);
          r && column < static_cast<int>(r->mjac.size()) && column <= rounds_of(*r))
        v[s] = ((*r).*(use_dice ? dice : jac))[column];
    return v;
  };
  auto table = [&](const std::string& title, const std::string& against, bool use_dice) {
    std::string md = title + "\n\n| method |";
    for (int r = 1; r <= setup_.rounds; ++r) md += fmt::format(" round {} |", r);
    md += "\n| --- |";
    for (int r = 1; r <= setup_.rounds; ++r) md += " --- |";
    md += "\n";
    for (const auto& m : o_.methods) {
      if (m == reference_row::source || m == against) continue;
      md += "| " + m + " |";
      for (int c = 1; c <= setup_.rounds; ++c) {
        // Against the source model: each seed's own round 0; against a method: the same round.
        const auto a = against.empty() ? scores(m, c, use_dice) : scores(against, c, use_dice);
        const auto b = against.empty() ? scores(m, 0, use_dice) : scores(m, c, use_dice);
        md += " " + pct(paired_difference(a, b)) + " |";
      }
      md += "\n";
    }
    return md + "\n";
  };
  std::string md;
  for (bool use_dice : {true, false}) {
    const char* metric = use_dice ? "mDice" : "mJac";
    md += table(fmt::format("Paired differences in {} {} (percentage points): each method minus the same seed's "
                            "source model, mean over seeds [95 % t-interval] boot [95 % percentile bootstrap "
                            "interval], seeds above",
                            split, metric),
                "", use_dice);
    if (std::count(o_.methods.begin(), o_.methods.end(), "jcas"))
      md += table(fmt::format("JCAS minus each method in {} {} (percentage points), same seed and round, mean over "
                              "seeds [95 % t-interval] boot [95 % percentile bootstrap interval], seeds where JCAS "
                              "is above",
                              split, metric),
                  "jcas", use_dice);
  }
  return md;
}

void Benchmark::write_plot(const fs::path& png) const {
  const int pw = 520, ph = 340, left = 52, right = 150, top = 30, bottom = 40;
  const int n = static_cast<int>(o_.shifts.size());
  cv::Mat img(ph, pw * n, CV_8UC3, cv::Scalar(255, 255, 255));
  static const std::vector<cv::Scalar> palette = {
      {180, 119, 31}, {14, 127, 255}, {44, 160, 44}, {40, 39, 214}, {189, 103, 148},
      {75, 86, 140},  {194, 119, 227}, {127, 127, 127}, {34, 189, 188}, {207, 190, 23}};
  const int R = setup_.rounds;
  for (int p = 0; p < n; ++p) {
    const double shift = o_.shifts[p];
    // Mean mJac per method and round.
    std::vector<std::vector<double>> means(o_.methods.size(), std::vector<double>(R + 1, NAN));
    double lo = INFINITY, hi = -INFINITY;
    for (size_t m = 0; m < o_.methods.size(); ++m)
      for (int c = 0; c <= R; ++c) {
        std::vector<double> v;
        for (const auto& r : runs_)
          if (r.method == o_.methods[m] && r.shift == shift && r.done && !r.variant && c < static_cast<int>(r.mjac.size()))
            v.push_back(r.mjac[c]);
        const double mean = spread(v).mean;
        means[m][c] = mean;
        if (std::isfinite(mean)) lo = std::min(lo, 100 * mean), hi = std::max(hi, 100 * mean);
      }
    if (!std::isfinite(lo)) lo = 0, hi = 100;
    lo = std::max(0.0, std::floor(lo / 5) * 5 - (hi - lo < 1 ? 5 : 0));
    hi = std::min(100.0, std::ceil(hi / 5) * 5 + (hi - lo < 1 ? 5 : 0));
    if (hi <= lo) hi = lo + 5;
    const int x0 = p * pw + left, x1 = p * pw + pw - right, y0 = top, y1 = ph - bottom;
    auto X = [&](int c) { return R == 0 ? x0 : x0 + (x1 - x0) * c / R; };
    auto Y = [&](double v) { return static_cast<int>(std::lround(y1 - (y1 - y0) * (100 * v - lo) / (hi - lo))); };
    cv::rectangle(img, {x0, y0}, {x1, y1}, cv::Scalar(0, 0, 0), 1);
    for (int k = 0; k <= 5; ++k) {  // y grid and labels
      const double v = lo + (hi - lo) * k / 5;
      const int y = static_cast<int>(std::lround(y1 - (y1 - y0) * k / 5.0));
      cv::line(img, {x0, y}, {x1, y}, cv::Scalar(225, 225, 225), 1);
      cv::putText(img, fmt::format("{:.0f}", v), {x0 - 30, y + 4}, cv::FONT_HERSHEY_SIMPLEX, 0.4, cv::Scalar(0, 0, 0), 1,
                  cv::LINE_AA);
    }
    for (int c = 0; c <= R; ++c) {
      cv::line(img, {X(c), y1}, {X(c), y1 + 4}, cv::Scalar(0, 0, 0), 1);
      cv::putText(img, std::to_string(c), {X(c) - 4, y1 + 18}, cv::FONT_HERSHEY_SIMPLEX, 0.4, cv::Scalar(0, 0, 0), 1,
                  cv::LINE_AA);
    }
    cv::putText(img, "round (0 = source model)", {x0 + (x1 - x0) / 2 - 80, ph - 6}, cv::FONT_HERSHEY_SIMPLEX, 0.4,
                cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
    const std::string title = setup_.target.empty()
                                  ? fmt::format("shift {}: mean test mJac (%)", benchmark_shift_text(shift))
                                  : fmt::format("{}: mean test mJac (%)", fs::path(setup_.target).filename().string());
    cv::putText(img, title, {x0, top - 10},
                cv::FONT_HERSHEY_SIMPLEX, 0.5, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
    for (size_t m = 0; m < o_.methods.size(); ++m) {
      const cv::Scalar col = palette[m % palette.size()];
      std::optional<cv::Point> prev;
      for (int c = 0; c <= R; ++c) {
        if (!std::isfinite(means[m][c])) continue;
        const cv::Point pt(X(c), Y(means[m][c]));
        if (prev) cv::line(img, *prev, pt, col, 2, cv::LINE_AA);
        cv::circle(img, pt, 3, col, cv::FILLED, cv::LINE_AA);
        prev = pt;
      }
      const int ly = top + 14 + 18 * static_cast<int>(m);
      cv::line(img, {x1 + 10, ly - 4}, {x1 + 30, ly - 4}, col, 2, cv::LINE_AA);
      cv::putText(img, o_.methods[m], {x1 + 34, ly}, cv::FONT_HERSHEY_SIMPLEX, 0.42, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
    }
  }
  std::vector<uchar> bytes;
  if (!cv::imencode(".png", img, bytes)) throw UserError("cannot encode the benchmark plot");
  write_text_file(png, std::string(bytes.begin(), bytes.end()));
}

}  // namespace jcas
