// `jcas benchmark --quick` end to end on tiny data: the report and plot, the cache on a second
// invocation, an unknown method, a failing run.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <regex>
#include <cmath>
#include <cstdlib>

#include "pipeline/metrics/label_free_criteria.h"
#include "tests/support/cli_runner.h"
#include "tests/tools/tiny_pipeline.h"
#include "tools/report/seed_spread.h"

namespace fs = std::filesystem;
using jcas::testing::read_text;
using jcas::testing::metric_of;
using jcas::testing::occurrences;
using jcas::testing::run_jcas;

namespace {

std::vector<std::string> tiny(const fs::path& workdir, std::vector<std::string> extra = {},
                              const std::string& threads = "1") {
  std::vector<std::string> a = {"benchmark", "--quick", "--workdir", workdir.string(), "--threads", threads,
                                "--synth.source_train", "8", "--synth.target_train", "8", "--synth.target_val", "2",
                                "--synth.target_test", "4", "--synth.size", "32x40", "--data.input_size", "32x40",
                                "--model.width", "8", "--model.feat1_dim", "16", "--model.feat2_dim", "16",
                                "--retrain.affinity_grid", "4x5", "--pseudo_label.prob_stride", "2"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

}  // namespace

TEST(BenchmarkCli, QuickRunWritesReportAndPlotThenComesFromTheCache) {
  const fs::path w = jcas::testing::fresh_dir("benchmark_quick");
  // --threads 0 (all CPUs) is shared by the runs at once: each child gets its part, never 0.
  auto first = run_jcas(tiny(w, {"--jobs", "2"}, "0"));
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const fs::path report = w / "benchmark" / "report.md", plot = w / "benchmark" / "report.png";
  ASSERT_TRUE(fs::exists(report)) << first.output;
  const std::string md = read_text(report);
  const std::string test_tables = md.substr(0, md.find("### Choosing the model without labels"));
  for (const char* row : {"| source (no adaptation) |", "| ce (", "| jcas ("})
    EXPECT_EQ(occurrences(test_tables, row), 1) << row << "\n" << md;
  EXPECT_NE(md.find("## Shift 1 (`--synth.shift 1`)"), std::string::npos) << md;
  EXPECT_NE(md.find("![mean test mJac per round](report.png)"), std::string::npos) << md;
  // Paired tables: each method against its seed's source model, JCAS against the others (one seed: no interval).
  EXPECT_EQ(occurrences(md, "Paired differences in test mDice"), 1) << md;
  EXPECT_EQ(occurrences(md, "JCAS minus each method in test mJac"), 1) << md;
  EXPECT_EQ(std::regex_search(md, std::regex("\\| ce \\| [+-][0-9]+\\.[0-9]{2}, [01]/1 above \\|")), true) << md;
  // Transductive scores (the split adapted on): the source model's from the base, each round's from its run.
  EXPECT_EQ(occurrences(md, "### Transductive: the split adapted on"), 1) << md;
  EXPECT_EQ(occurrences(md, "Paired differences in adapted-split mJac"), 1) << md;
  const std::string transductive = md.substr(md.find("### Transductive"));
  EXPECT_TRUE(std::regex_search(transductive, std::regex(R"(\| jcas \(.*\| \d+\.\d\d / \d+\.\d\d \| \d+\.\d\d / \d+\.\d\d \| 1 \|)")))
      << transductive;
  // The label-free choice of the model: JCAS's row names the model whose criterion is higher.
  EXPECT_EQ(occurrences(md, std::string("### Choosing the model without labels (`") + jcas::kDefaultCriterion + "`)"), 1)
      << md;
  const fs::path jcas_run = w / "benchmark" / "shift1" / "seed0" / "jcas" / "round-0";
  const std::string default_criterion = std::string("lf_") + jcas::kDefaultCriterion;
  const int pick = metric_of(jcas_run / "criteria.h5", default_criterion) >
                           metric_of(jcas_run / "criteria_source.h5", default_criterion)
                       ? 1
                       : 0;
  EXPECT_TRUE(std::regex_search(
      md, std::regex(R"(\| jcas \(.*\| \d+\.\d\d \| \d+\.\d\d \| \d+\.\d\d \| -?\d+\.\d\d \| [01]/1 \| )" +
                     std::to_string(pick) + R"( \|)")))
      << md;
  EXPECT_EQ(md, first.output.substr(first.output.find("# SFDA benchmark")));  // printed as written
  // Runs started together sleep rather than spin while they wait (unless the user chose).
  if (!std::getenv("OMP_WAIT_POLICY"))
    EXPECT_NE(read_text(w / "benchmark" / "shift1" / "seed0" / "jcas" / "jcas.log").find("OpenMP waiting: OMP_WAIT_POLICY=PASSIVE)"),
              std::string::npos);
  const cv::Mat png = cv::imread(plot.string());
  EXPECT_FALSE(png.empty());
  for (const char* d : {"base", "ce", "jcas"}) EXPECT_TRUE(fs::is_directory(w / "benchmark" / "shift1" / "seed0" / d)) << d;
  EXPECT_EQ(occurrences(first.output, "] done "), 3) << first.output;
  // A method's work directory is a copy of the base: its run trains no source model.
  const std::string ce_log = read_text(w / "benchmark" / "shift1" / "seed0" / "ce" / "benchmark.log");
  EXPECT_NE(ce_log.find("skip source[0]"), std::string::npos) << ce_log;
  EXPECT_EQ(ce_log.find("run  source[0]"), std::string::npos) << ce_log;
  EXPECT_NE(ce_log.find("run  retrain[0]"), std::string::npos) << ce_log;
  EXPECT_NE(ce_log.find("run  evaluate_adapted[0]"), std::string::npos) << ce_log;
  const std::string base_log = read_text(w / "benchmark" / "shift1" / "seed0" / "base" / "benchmark.log");
  EXPECT_NE(base_log.find("run  evaluate_adapted_source[0]"), std::string::npos) << base_log;
  const std::string child_command = ce_log.substr(0, ce_log.find('\n'));
  EXPECT_EQ(occurrences(child_command, " --threads "), 1) << child_command;
  EXPECT_EQ(child_command.find("--threads 0"), std::string::npos) << child_command;

  auto second = run_jcas(tiny(w));
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_EQ(occurrences(second.output, "cached: no stage ran"), 3) << second.output;
  auto tables = [](const std::string& m) { return m.substr(m.find("## Shift")); };
  auto strip_times = [](std::string t) {  // the per-seed table shows each run's time
    return t.substr(0, t.find("Test mJac (%) of each seed"));
  };
  EXPECT_EQ(strip_times(tables(md)), strip_times(tables(read_text(report))));
}

// --tune: CE at each of its learning rates (its pipeline value the main run, the two others
// variants in their own work directories), every model scored on val; the configuration chosen
// by val mDice and the one chosen by the label-free criterion, each with its own test score.
TEST(BenchmarkCli, TuneRunsEachMethodAtEveryValueOfItsKnobAndChoosesByValAndWithoutLabels) {
  const fs::path w = jcas::testing::fresh_dir("benchmark_tune");
  auto r = run_jcas(tiny(w, {"--tune", "true", "--methods", "source,adabn,ce", "--jobs", "2"}));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const fs::path seed0 = w / "benchmark" / "shift1" / "seed0";
  EXPECT_EQ(occurrences(r.output, "] done "), 5) << r.output;  // source, adabn, ce at 3 learning rates
  const std::vector<std::pair<std::string, std::string>> configs = {
      {"ce@lr=0.0025", "0.0025"}, {"ce", "0.005"}, {"ce@lr=0.01", "0.01"}};
  std::string best_val_lr, best_lf_lr;
  double best_val = -1, best_lf = -1e9, val_test = 0, lf_test = 0;
  const std::string criterion = std::string("lf_") + jcas::kDefaultCriterion;
  for (const auto& [dir, lr] : configs) {
    const std::string log = read_text(seed0 / dir / "benchmark.log");
    const std::string command = log.substr(0, log.find('\n'));
    EXPECT_NE(command.find("--evaluate.val true"), std::string::npos) << command;
    EXPECT_EQ(command.find("--retrain.lr") != std::string::npos, dir != "ce") << command;
    EXPECT_NE(read_text(seed0 / dir / "config.ini").find("lr = " + lr), std::string::npos) << dir;
    const double val = metric_of(seed0 / dir / "round-0" / "evaluate_val.h5", "val_mdice");
    const double lf = metric_of(seed0 / dir / "round-0" / "criteria.h5", criterion);
    const double test = metric_of(seed0 / dir / "round-0" / "evaluate.h5", "test_mdice");
    // Each run's summary for other tools: its configuration and scores per column (1 = round 1).
    nlohmann::json summary;
    std::ifstream(seed0.string() + "/" + dir + ".result.json") >> summary;
    EXPECT_EQ(summary.at("run"), dir);
    EXPECT_EQ(summary.at("knob").at("value"), lr);
    EXPECT_EQ(summary.at("threads"), nlohmann::json::array({1})) << "the run's --threads 1, as its stages recorded it";
    EXPECT_DOUBLE_EQ(summary.at("val_mdice").at(1).get<double>(), val);
    EXPECT_DOUBLE_EQ(summary.at("test_mdice").at(1).get<double>(), test);
    if (val > best_val) best_val = val, best_val_lr = lr, val_test = test;
    if (lf > best_lf) best_lf = lf, best_lf_lr = lr, lf_test = test;
  }
  EXPECT_TRUE(fs::exists(seed0 / "base" / "round-0" / "evaluate_val_source.h5"));
  const std::string md = read_text(w / "benchmark" / "report.md");
  EXPECT_NE(md.find("CPU threads per run, as the adaptation stages recorded them: 1.\n"), std::string::npos) << md;
  // The main tables show each method once (its pipeline configuration).
  const std::string test_tables = md.substr(0, md.find("### Choosing the model without labels"));
  EXPECT_EQ(occurrences(test_tables, "| ce ("), 1) << md;
  ASSERT_NE(md.find("### Equal tuning budget"), std::string::npos) << md;
  const std::string tuning = md.substr(md.find("### Equal tuning budget"));
  EXPECT_NE(tuning.find("| adabn | (none) | 1 |"), std::string::npos) << tuning;
  const std::string row = fmt::format("| ce | retrain.lr | 3 | {} | {:.2f} | {} | {:.2f} | 0.005 |", best_val_lr,
                                      100 * val_test, best_lf_lr, 100 * lf_test);
  EXPECT_NE(tuning.find(row), std::string::npos) << row << "\n" << tuning;
  for (const char* c : {"| ce | lr=0.0025 |", "| ce | lr=0.005 |", "| ce | lr=0.01 |"})
    EXPECT_EQ(occurrences(tuning, c), 1) << c << "\n" << tuning;
  EXPECT_EQ(occurrences(tuning, "Paired differences in test, each method as chosen by val, mDice"), 1) << tuning;
  // Again: everything from the cache.
  auto again = run_jcas(tiny(w, {"--tune", "true", "--methods", "source,adabn,ce"}));
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(occurrences(again.output, "cached: no stage ran"), 5) << again.output;
}

TEST(BenchmarkCli, UnknownMethodIsOneErrorBeforeAnyRun) {
  const fs::path w = jcas::testing::fresh_dir("benchmark_bad");
  auto r = run_jcas(tiny(w, {"--methods", "source,ce,magic"}));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("jcas benchmark: error: --methods: unknown method 'magic'"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(w / "benchmark" / "shift1"));
  // The same from a config's [benchmark] section (the command line's other options still apply).
  fs::create_directories(w);
  { std::ofstream(w / "bench.ini") << "[benchmark]\nmethods = source,magic\nseeds = 2\n"; }
  auto f = run_jcas(tiny(w, {"--config", (w / "bench.ini").string()}));
  EXPECT_EQ(f.exit_code, 2) << f.output;
  EXPECT_NE(f.output.find("unknown method 'magic'"), std::string::npos) << f.output;
  EXPECT_FALSE(fs::exists(w / "benchmark" / "shift1"));
  auto s = run_jcas(tiny(w, {"--seed", "3"}));
  EXPECT_EQ(s.exit_code, 2) << s.output;
  EXPECT_NE(s.output.find("use --seeds"), std::string::npos) << s.output;
  // A method's own options: each a pipeline option with a value it takes, none the benchmark sets.
  const std::pair<const char*, const char*> bad_entries[] = {
      {"ce@magic=1", "'ce@magic=1': --magic is not a pipeline option"},
      {"ce@retrain.lr=fast", "--retrain.lr: expected"},
      {"ce@seed=1", "'ce@seed=1': the benchmark sets --seed of each run"},
      {"source@retrain.lr=0.1", "source adapts nothing, so it takes no options"},
      {"ce@retrain.lr", "expected METHOD@KEY=VALUE"},
      {"ce@retrain.lr=0.01@retrain.lr=0.02", "--retrain.lr is given twice"}};
  for (const auto& [entry, message] : bad_entries) {
    auto e = run_jcas(tiny(w, {"--methods", std::string("source,") + entry}));
    EXPECT_EQ(e.exit_code, 2) << entry << "\n" << e.output;
    EXPECT_NE(e.output.find(message), std::string::npos) << entry << "\n" << e.output;
  }
  auto twice = run_jcas(tiny(w, {"--methods", "ce@retrain.lr=0.02,ce@retrain.lr=0.020"}));
  EXPECT_EQ(twice.exit_code, 2) << twice.output;
  EXPECT_NE(twice.output.find("'ce@retrain.lr=0.02' is listed twice"), std::string::npos) << twice.output;
  EXPECT_FALSE(fs::exists(w / "benchmark" / "shift1"));
}

// A method with options of its own (METHOD@KEY=VALUE, e.g. JCAS with another T_C estimator): a row
// of its own in its own work directory, run with its value in place of the one given to every run.
TEST(BenchmarkCli, MethodWithOptionsOfItsOwnIsARowOfItsOwn) {
  const fs::path w = jcas::testing::fresh_dir("benchmark_entry_options");
  auto r = run_jcas(tiny(w, {"--methods", "source,ce,ce@retrain.lr=0.020", "--retrain.lr", "0.003",
                             "--transductive", "false"}));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const fs::path seed0 = w / "benchmark" / "shift1" / "seed0";
  const std::string variant_log = read_text(seed0 / "ce@retrain.lr=0.02" / "benchmark.log");
  const std::string variant_command = variant_log.substr(0, variant_log.find('\n'));
  EXPECT_NE(variant_command.find("--retrain.method ce --retrain.lr 0.02 "), std::string::npos) << variant_command;
  EXPECT_EQ(occurrences(variant_command, "--retrain.lr"), 1) << variant_command;
  EXPECT_NE(read_text(seed0 / "ce@retrain.lr=0.02" / "config.ini").find("\nlr = 0.02\n"), std::string::npos);
  EXPECT_EQ(read_text(seed0 / "ce@retrain.lr=0.02" / "config.ini").find("\nlr = 0.003\n"), std::string::npos);
  EXPECT_NE(read_text(seed0 / "ce" / "config.ini").find("\nlr = 0.003\n"), std::string::npos);
  const std::string md = read_text(w / "benchmark" / "report.md");
  const std::string test_tables = md.substr(0, md.find("### Choosing the model without labels"));
  EXPECT_EQ(occurrences(test_tables, "| ce@retrain.lr=0.02 (Baseline (CE)) |"), 1) << md;
  EXPECT_EQ(occurrences(test_tables, "| ce (Baseline (CE)) |"), 1) << md;
  // Its scores per seed, and its paired differences to the source model in mDice and mJac.
  EXPECT_EQ(occurrences(test_tables, "| ce@retrain.lr=0.02 | "), 3) << md;
  const auto summary = nlohmann::json::parse(read_text(seed0 / "ce@retrain.lr=0.02.result.json"));
  EXPECT_EQ(summary.at("method"), "ce@retrain.lr=0.02");
  EXPECT_EQ(summary.at("options").at("retrain.lr"), "0.02");
}

// The benchmark's own options (every [benchmark] key, and -q/-v) are its own: `--transductive false`
// (a target whose adapted-on split has no labels) reaches no run, and the report has no transductive table.
TEST(BenchmarkCli, ItsOwnOptionsAreNotPassedToTheRuns) {
  const fs::path w = jcas::testing::fresh_dir("benchmark_own");
  auto r = run_jcas(tiny(w, {"--methods", "source,ce", "--transductive", "false", "-q"}));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string log = read_text(w / "benchmark" / "shift1" / "seed0" / "ce" / "benchmark.log");
  EXPECT_EQ(log.find("--transductive"), std::string::npos) << log;
  EXPECT_EQ(read_text(w / "benchmark" / "report.md").find("### Transductive"), std::string::npos);
  // -q quiets this command's terminal, not the runs' logs, which say what each run did.
  EXPECT_EQ(log.find(" -q"), std::string::npos) << log;
  EXPECT_NE(log.find("stage(s) run"), std::string::npos) << log;
  auto again = run_jcas(tiny(w, {"--methods", "source,ce", "--transductive", "false", "-q"}));
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(read_text(w / "benchmark" / "report.md").find("2 run(s) (2 read from the cache: no stage ran)"),
            std::string::npos);
}

TEST(BenchmarkCli, FailingRunNamesItsLog) {
  const fs::path w = jcas::testing::fresh_dir("benchmark_fail");
  auto r = run_jcas(tiny(w, {"--retrain.epochs", "0"}));  // parses; the run refuses it
  EXPECT_NE(r.exit_code, 0) << r.output;
  const fs::path log = w / "benchmark" / "shift1" / "seed0" / "base" / "benchmark.log";
  EXPECT_NE(r.output.find("see " + log.string()), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(log));
  EXPECT_FALSE(fs::exists(w / "benchmark" / "report.md"));
}

TEST(BenchmarkCli, RunsAreSpreadOverTorchrunRanks) {
  // Two ranks as torchrun starts them (the environment set by hand): rank r runs the runs whose
  // index mod 2 is r (source and jcas on rank 0, ce on rank 1); rank 0 reports every run.
  const fs::path w = jcas::testing::fresh_dir("benchmark_ranks");
  fs::create_directories(w);
  setenv("WORLD_SIZE", "2", 1);
  setenv("MASTER_ADDR", "127.0.0.1", 1);
  setenv("MASTER_PORT", "29517", 1);
  setenv("RANK", "1", 1);
  const int pid = jcas::testing::spawn_jcas(tiny(w), (w / "rank1.txt").string());
  setenv("RANK", "0", 1);
  auto r0 = run_jcas(tiny(w));
  for (const char* v : {"WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "RANK"}) unsetenv(v);
  const int rc1 = jcas::testing::wait_jcas(pid);
  const std::string out1 = read_text(w / "rank1.txt");
  ASSERT_EQ(r0.exit_code, 0) << r0.output;
  ASSERT_EQ(rc1, 0) << out1;
  EXPECT_NE(r0.output.find("done jcas shift 1 seed 0"), std::string::npos) << r0.output;
  EXPECT_EQ(r0.output.find("done ce shift 1 seed 0"), std::string::npos) << r0.output;
  EXPECT_NE(out1.find("done ce shift 1 seed 0"), std::string::npos) << out1;
  EXPECT_EQ(out1.find("# SFDA benchmark"), std::string::npos) << out1;  // rank 0 alone reports
  const std::string md = read_text(w / "benchmark" / "report.md");
  EXPECT_TRUE(std::regex_search(md, std::regex(R"(\| ce \(.*\| \d+\.\d\d / \d+\.\d\d \| 1 \|)"))) << md;
  // The children are one-process runs: no torchrun variables reach them.
  const std::string ce_log = read_text(w / "benchmark" / "shift1" / "seed0" / "ce" / "benchmark.log");
  EXPECT_EQ(ce_log.find(" rank "), std::string::npos) << ce_log;
}

// Paired differences: the mean of per-seed differences with the Student-t interval (t(2) = 4.303) and
// the percentile bootstrap interval.
TEST(SeedSpread, PairedDifferenceIsTheMeanOfPerSeedDifferencesWithItsTInterval) {
  const auto d = jcas::paired_difference({0.50, 0.62, NAN, 0.40}, {0.45, 0.60, 0.30, 0.41});
  EXPECT_EQ(d.n, 3);
  EXPECT_EQ(d.above, 2);
  EXPECT_NEAR(d.mean, (0.05 + 0.02 - 0.01) / 3, 1e-12);
  const double sd = std::sqrt((std::pow(0.05 - 0.02, 2) + 0 + std::pow(-0.01 - 0.02, 2)) / 2);
  EXPECT_NEAR(d.half_width, 4.303 * sd / std::sqrt(3.0), 1e-12);
  // Bootstrap: of the 27 equally likely resamples of three differences, the lowest mean (-0.01, all
  // three the same seed) and the highest (0.05) each have probability 1/27 > 2.5 %.
  EXPECT_NEAR(d.boot_low, -0.01, 1e-12);
  EXPECT_NEAR(d.boot_high, 0.05, 1e-12);
  EXPECT_EQ(jcas::pct(d), "+2.00 [-5.45, +9.45] boot [-1.00, +5.00], 2/3 above");
  // Ten seeds: the bootstrap interval lies inside the observed differences and around the mean, and
  // is the same on every call.
  std::vector<double> a, b;
  for (int i = 0; i < 10; ++i) a.push_back(0.5 + 0.01 * i * (i % 3 == 0 ? -1 : 1)), b.push_back(0.5);
  const auto ten = jcas::paired_difference(a, b), again = jcas::paired_difference(a, b);
  EXPECT_GT(ten.boot_low, -0.09);
  EXPECT_LT(ten.boot_high, 0.08);
  EXPECT_LT(ten.boot_low, ten.mean);
  EXPECT_GT(ten.boot_high, ten.mean);
  EXPECT_EQ(ten.boot_low, again.boot_low);
  EXPECT_EQ(ten.boot_high, again.boot_high);
  EXPECT_EQ(jcas::pct(jcas::paired_difference({0.5}, {0.25})), "+25.00, 1/1 above");
  EXPECT_EQ(jcas::pct(jcas::paired_difference({NAN}, {0.25})), "–");
}
