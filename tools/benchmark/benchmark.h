#pragma once
// `jcas benchmark`: the SFDA benchmark in one command. Every (shift strength, seed, method) is one
// ordinary pipeline run (`jcas run`) in its own work directory under WORKDIR/benchmark, started as
// a child process of this jcas, so each run has the pipeline's cache, resume, status and compare.
// Per (shift, seed), a base work directory holds what every method shares (data, source model,
// its test score: `jcas stage evaluate_source --ensure`); each method's work directory starts as
// a copy of it (a copied work directory keeps its cache). The report is a Markdown table per
// shift (test mDice / mJac per round, mean ± sd over seeds) and a PNG of mean test mJac per round.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "adapters/foundation/option_binder.h"
#include "pipeline/training/tuning_knob.h"

namespace jcas {

// source (no adaptation), the adaptation methods, upper_bound (CE on the true target labels).
std::vector<std::string> benchmark_default_methods();
// The methods of `--quick`.
std::vector<std::string> benchmark_quick_methods();
// A --methods entry: a method, optionally with pipeline options of its own that replace the given
// ones for its runs ("jcas@estimate_ntm.estimator=posterior"): a row of its own, in its own work
// directory.
struct MethodSpec {
  std::string method;                                       // source, upper_bound or a --retrain.method name
  std::vector<std::pair<std::string, std::string>> options;  // key, value in the option's canonical text
  std::string text() const;  // the canonical entry: "jcas@estimate_ntm.estimator=posterior"
};
// UserError for a name that is neither "source", "upper_bound" nor a registered adaptation
// method (listing the valid names), and for an option that is not a pipeline option, has a value
// it refuses, is one the benchmark sets per run, or is given to source (which adapts nothing).
// `has_truth_labels`: whether the pipeline has `--retrain.labels` (which upper_bound needs).
MethodSpec parse_benchmark_method(const std::string& entry, bool has_truth_labels);
// "1", "1.5": the text of a shift in folder names and on the child's command line.
std::string benchmark_shift_text(double shift);

struct BenchmarkOptions {
  std::vector<std::string> methods = benchmark_default_methods();
  int seeds = 3;                       // pipeline seeds 0..seeds-1
  std::vector<double> shifts = {1.0, 1.5};  // --synth.shift of the runs
  int jobs = 1;                        // child runs at once on this machine
  bool transductive = true;            // also score on the split adapted on (--evaluate.adapted)
  std::string out;                     // Markdown report (empty: WORKDIR/benchmark/report.md)
  bool tune = false;                   // every method at each value of its main knob (AdaptationMethod::tuning_knob)
  bool quick = false;

  // Plain keys (`--seeds 3`, `[benchmark] seeds = 3`); `quick` is a switch of the command.
  void bind(OptionBinder& b);
  void check() const;  // values only; method entries: parse_benchmark_method
};

// One (shift, seed, method[, configuration]): its scores per round.
struct BenchmarkRun {
  double shift = 1;
  int seed = 0;
  std::string method;  // the --methods entry, canonical (MethodSpec::text)
  std::string retrain_method;  // its method: source, upper_bound or a --retrain.method name
  std::vector<std::pair<std::string, std::string>> options;  // the entry's own options
  // With --tune, for a method with a knob: the knob's key and the value this run used. A variant is
  // a configuration other than the pipeline's own; it appears in the tuning tables only.
  std::string knob, value;
  bool variant = false;
  bool candidate = false;           // its value is one of the knob's tuning values
  std::filesystem::path dir;        // its work directory (the base's for "source")
  std::vector<double> mjac, mdice;  // test split: [0] the source model, [r] after r rounds (NaN: not run)
  std::vector<double> adapted_mjac, adapted_mdice;  // the same on the split adapted on (transductive)
  std::vector<double> criterion;    // the default label-free criterion of the same models (NaN: not computed)
  std::vector<double> val_mjac, val_mdice;  // the labelled val split (--evaluate.val, with --tune)
  double seconds = 0;               // wall time of its child (0 for source: the base's time)
  double adaptation_seconds = 0;    // recorded wall time of its adaptation stages (cached ones too)
  std::set<int> threads;            // intra-op CPU threads its adaptation stages recorded (empty: none)
  int stages_run = -1;              // stages the child ran (0: everything cached; -1 unknown)
  bool done = false;
  // "jcas", or "jcas@affinity_weight=0.3" for a variant: its work directory's name.
  std::string name() const;
};

// The run of a method and seed that a table reads (nullptr: none).
using RunPick = std::function<const BenchmarkRun*(const std::string& method, int seed)>;

// A passthrough option as given: its key ("rounds", "config") and its tokens ("--rounds", "2").
using PassthroughOption = std::pair<std::string, std::vector<std::string>>;

struct BenchmarkSetup {
  std::filesystem::path workdir;              // WORKDIR; the benchmark lives in WORKDIR/benchmark
  int rounds = 2;                             // rounds of the runs (after --quick)
  std::vector<PassthroughOption> passthrough; // given to every child `jcas run`
  std::string command_line;                   // as typed, for the report
  int rank = 0, world_size = 1;               // from torchrun's RANK / WORLD_SIZE
  int dist_timeout = 300;                     // seconds: bounds rank 0's wait for the other ranks
  bool has_truth_labels = false;              // the pipeline has --retrain.labels
  std::string target;                         // --data.target (empty: synthetic data, the shifts apply)
  std::map<std::string, std::string> option_values;  // every pipeline option's value for the runs (--tune's defaults)
};

class Benchmark {
 public:
  Benchmark(BenchmarkOptions options, BenchmarkSetup setup);

  // Runs this rank's runs (index % world_size == rank) as child processes, at most `jobs` at once,
  // printing a dated line per finished run and a progress bar. A failing child: the others that
  // run are waited for, then UserError naming the run and its log. SIGINT/SIGTERM are forwarded.
  void run_mine();
  // Rank 0 with several ranks: waits (bounded) until every other rank has finished its runs and
  // reads their results. One process: nothing to do.
  void collect();
  const std::vector<BenchmarkRun>& runs() const { return runs_; }

  std::string markdown(double wall_seconds) const;
  // The paired per-seed tables of one shift: each method against its seed's source model, and
  // JCAS against each method (when jcas is among the methods), in mDice and mJac.
  // Paired per-seed differences of the scores `dice`/`jac` point to (test or adapted split) of the
  // runs `pick` gives.
  std::string paired_tables(const std::string& split, std::vector<double> BenchmarkRun::*dice,
                            std::vector<double> BenchmarkRun::*jac, const RunPick& pick) const;
  // Mean ± sd over seeds of those scores, per method and round.
  // The models the default label-free criterion chooses, against the last round and the best ("" when
  // no run has criteria).
  std::string label_free_table(double shift) const;
  std::string spread_table(double shift, std::vector<double> BenchmarkRun::*dice,
                           std::vector<double> BenchmarkRun::*jac) const;
  // --tune: each method's configurations (val mDice, the label-free criterion and test mDice after
  // the last round, mean over seeds), the one chosen by val and the one chosen without labels, and
  // the paired tables of those choices.
  std::string tuning_tables(double shift) const;
  // The pipeline's own configuration of each method (not a --tune variant) at this shift.
  RunPick main_runs(double shift) const;
  // One panel per shift: mean test mJac per round (0 = the source model), one polyline per method.
  void write_plot(const std::filesystem::path& png) const;
  std::filesystem::path root() const { return setup_.workdir / "benchmark"; }
  std::filesystem::path report_path() const;
  std::filesystem::path plot_path() const;  // beside the report, same stem, .png

 private:
  struct Task;
  std::filesystem::path base_dir(double shift, int seed) const;
  std::filesystem::path result_json(const BenchmarkRun& run) const;
  std::vector<std::string> child_args(const BenchmarkRun* run, double shift, int seed) const;
  void read_scores(BenchmarkRun& run) const;  // from its work directory's stage records
  void read_result(BenchmarkRun& run) const;  // from its summary file (what the report is built from)
  void finish_run(BenchmarkRun& run, double seconds, int stages_run);
  int rounds_of(const BenchmarkRun& run) const;

  BenchmarkOptions o_;
  BenchmarkSetup setup_;
  std::vector<BenchmarkRun> runs_;
  std::map<std::string, TuningKnob> knobs_;  // --tune: each method's knob, values in canonical text
  std::string token_;  // the same on every rank of one launch
  int64_t started_ = 0;  // unix seconds
};

}  // namespace jcas
