// A cache that trusts contents, not paths, and one writer per work directory: edited inputs make
// exactly their readers stale, bad datasets fail before anything trains, concurrent runs refuse,
// signals stop cleanly with their exit codes, and runs killed at random moments resume to the
// same figures.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <random>
#include <regex>
#include <set>
#include <thread>

#include "adapters/io/h5_store.h"
#include "tests/support/cli_runner.h"
#include "tests/tools/tiny_pipeline.h"

namespace fs = std::filesystem;
using namespace jcas::testing;

namespace {

// The set of stages a run executed.
std::set<std::string> ran(const std::string& log) {
  auto v = stages_run(log);
  return {v.begin(), v.end()};
}

std::vector<fs::path> temporaries(const fs::path& dir) {
  std::vector<fs::path> out;
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().extension() == ".tmp") out.push_back(e.path());
  return out;
}

bool wait_for(const std::function<bool()>& ready, std::chrono::seconds limit = std::chrono::seconds(120)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!ready()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// The headline figures a finished tiny pipeline is judged by.
std::vector<double> figures(const fs::path& d) {
  return {metric_of(d / "round-0" / "evaluate_source.h5", "test_mjac"),
          metric_of(d / "round-0" / "pseudo_label.h5", "class_noise_rate"),
          metric_of(d / "round-0" / "estimate_ntm.h5", "estimation_error"),
          metric_of(d / "round-0" / "evaluate.h5", "test_mjac"), metric_of(d / "round-0" / "evaluate.h5", "test_mdice")};
}

// Same seed, same batches, same arithmetic on CPU: a resumed run's figures equal an
// uninterrupted one's (weights agree to ~1e-7).
void expect_same_figures(const fs::path& got, const fs::path& want) {
  auto a = figures(got), b = figures(want);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-6) << "figure " << i;
  // The tiny model's scores are coarse: compare what it learned and labelled too.
  jcas::H5Reader ra(got / "round-0" / "retrain.h5"), rb(want / "round-0" / "retrain.h5");
  double worst = 0;
  for (const auto& name : rb.list("model"))
    worst = std::max(worst, (ra.read("model/" + name).to(torch::kFloat64) - rb.read("model/" + name).to(torch::kFloat64))
                                .abs()
                                .max()
                                .item<double>());
  EXPECT_LT(worst, 1e-5) << "largest weight difference of the retrained model";
  EXPECT_TRUE(torch::equal(jcas::H5Reader(got / "round-0" / "pseudo_label.h5").read("labels"),
                           jcas::H5Reader(want / "round-0" / "pseudo_label.h5").read("labels")));
}

}  // namespace

TEST(CacheTrust, EditedTargetImageMakesItsReadersStale) {
  fs::path d = copy_of_completed("edited_image");
  // A copied work directory keeps its cache: names inside it are relative.
  auto rerun = run_jcas(concat({"run"}, tiny_options(d)));
  ASSERT_EQ(rerun.exit_code, 0) << rerun.output;
  ASSERT_TRUE(ran(rerun.output).empty()) << rerun.output;

  const fs::path image = d / "data" / "target" / "img" / "train_0000.png";
  cv::Mat m = cv::imread(image.string());
  m.at<cv::Vec3b>(0, 0) = cv::Vec3b(m.at<cv::Vec3b>(0, 0)[0] ^ 0xFF, 0, 0);
  ASSERT_TRUE(cv::imwrite(image.string(), m));

  auto status = run_jcas(concat({"status"}, tiny_options(d)));
  ASSERT_EQ(status.exit_code, 0) << status.output;
  EXPECT_NE(status.output.find("inputs changed: contents of data/target:train"), std::string::npos) << status.output;
  auto r = run_jcas(concat({"run"}, tiny_options(d)));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // The readers of the target train split and what depends on them; not the source model.
  EXPECT_EQ(ran(r.output), (std::set<std::string>{"criteria_source[0]", "pseudo_label[0]", "estimate_ntm[0]",
                                                  "derive_affinity[0]", "retrain[0]", "evaluate[0]", "criteria[0]"}))
      << r.output;
}

TEST(CacheTrust, ReplacedSourceWeightsMakeTheSourceStale) {
  fs::path d = copy_of_completed("weights");
  const fs::path weights = d / "weights.h5";
  fs::copy_file(d / "source.h5", weights);
  auto opts = concat(tiny_options(d), {"--source.weights", weights.string()});
  auto first = run_jcas(concat({"run"}, opts));
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_TRUE(ran(first.output).count("source[0]")) << first.output;
  auto again = run_jcas(concat({"run"}, opts));
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_TRUE(ran(again.output).empty()) << again.output;

  // Same path, other contents (the retrained model's weights).
  fs::copy_file(d / "round-0" / "retrain.h5", weights, fs::copy_options::overwrite_existing);
  auto status = run_jcas(concat({"status"}, opts));
  EXPECT_NE(status.output.find("inputs changed: contents of weights.h5"), std::string::npos) << status.output;
  auto r = run_jcas(concat({"run"}, opts));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(ran(r.output).count("source[0]")) << r.output;
}

TEST(CacheTrust, BrokenTargetFailsBeforeAnythingTrains) {
  fs::path d = fresh_dir("broken_target");
  ASSERT_EQ(write_small_datasets(d / "ds"), "");
  auto opts = concat(tiny_options(d / "work"), {"--data.source", (d / "ds" / "source").string(), "--data.target",
                                                (d / "ds" / "target").string()});
  const fs::path missing = d / "ds" / "target" / "img" / "train_0001.png";
  fs::rename(missing, d / "moved.png");
  auto r = run_jcas(concat({"run"}, opts));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("missing image file '" + missing.string() + "'"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(d / "work" / "source.h5"));  // the source model was not trained first
  fs::rename(d / "moved.png", missing);

  // A label whose size differs from its image.
  const fs::path label = d / "ds" / "target" / "label" / "test_0001.png";
  fs::copy_file(label, d / "label.png");
  cv::imwrite(label.string(), cv::Mat(16, 20, CV_8UC1, cv::Scalar(0)));
  r = run_jcas(concat({"run"}, opts));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("label file '" + label.string() + "' is 16x20"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(d / "work" / "source.h5"));
  fs::copy_file(d / "label.png", label, fs::copy_options::overwrite_existing);

  // A name that leaves the dataset folder.
  std::ofstream(d / "ds" / "target" / "train.txt", std::ios::app) << "../../escape\n";
  r = run_jcas(concat({"run"}, opts));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("name '../../escape' leaves the dataset folder"), std::string::npos) << r.output;
}

TEST(CacheTrust, OneWriterPerWorkDirectory) {
  // Long enough source training that the second and third runs start while the first holds the lock.
  auto opts = [](const fs::path& w) {
    auto o = tiny_options(w);
    *(std::find(o.begin(), o.end(), "--source.epochs") + 1) = "40";
    return o;
  };
  fs::path reference = fresh_dir("one_run");
  ASSERT_EQ(run_jcas(concat({"run"}, opts(reference))).exit_code, 0);
  fs::path d = fresh_dir("two_runs");
  fs::path log_a = fs::path(d.string() + ".a.log");
  int a = spawn_jcas(concat({"run"}, opts(d)), log_a.string());
  // Once the lock names its holder, a second run refuses at once, naming it.
  ASSERT_TRUE(wait_for([&] { return !read_text(d / ".jcas" / "lock").empty(); }));
  // Started again for its OpenMP settings, it keeps its name (what `ps` shows, `pkill jcas` matches).
  EXPECT_EQ(read_text(fs::path("/proc") / std::to_string(a) / "comm"), "jcas\n");
  auto b = run_jcas(concat({"run"}, opts(d)));
  EXPECT_EQ(b.exit_code, 2) << b.output;
  EXPECT_NE(b.output.find("in use by jcas process " + std::to_string(a)), std::string::npos) << b.output;
  // Readers work meanwhile.
  auto status = run_jcas(concat({"status"}, opts(d)));
  EXPECT_EQ(status.exit_code, 0) << status.output;
  // A run that waits completes after the holder, finding everything cached. The holder is stopped
  // (SIGSTOP) until the waiting run says that it waits, so the lock is held when that run starts
  // however long starting takes.
  int status_a = 0;
  const bool a_running = waitpid(a, &status_a, WNOHANG) == 0 && kill(a, SIGSTOP) == 0;
  const fs::path log_waiting = fs::path(d.string() + ".waiting.log");
  const int waiting = spawn_jcas(concat({"run", "--wait"}, opts(d)), log_waiting.string());
  if (a_running) {
    EXPECT_TRUE(wait_for([&] { return read_text(log_waiting).find(": waiting") != std::string::npos; }))
        << read_text(log_waiting);
    kill(a, SIGCONT);
    EXPECT_EQ(wait_jcas(a), 0) << read_text(log_a);
  } else {
    std::printf("the first run finished before the waiting run started\n");
    EXPECT_TRUE(WIFEXITED(status_a) && WEXITSTATUS(status_a) == 0) << read_text(log_a);
  }
  EXPECT_EQ(wait_jcas(waiting), 0) << read_text(log_waiting);
  EXPECT_TRUE(ran(read_text(log_waiting)).empty()) << read_text(log_waiting);
  expect_same_figures(d, reference);  // as if it had run alone
  // The run log: the command line and the effective configuration, then dated lines.
  const std::string log = read_text(d / "jcas.log");
  EXPECT_NE(log.find("=== jcas run --workdir"), std::string::npos) << log;
  EXPECT_NE(log.find("[retrain]\n"), std::string::npos) << log;
  EXPECT_TRUE(std::regex_search(log, std::regex(R"(\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] done retrain\[0\])"))) << log;
}

TEST(CacheTrust, TemporariesOfDeadRunsAreRemoved) {
  fs::path d = copy_of_completed("stale_tmp");
  const fs::path dead = d / "round-0" / "retrain.h5.999999999.tmp", old = d / "data.tmp",
                 live = d / "round-0" / fmt::format("x.h5.{}.tmp", getpid());
  std::ofstream(dead) << "x";
  fs::create_directories(old);
  std::ofstream(live) << "x";
  auto r = run_jcas(concat({"run"}, tiny_options(d)));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_FALSE(fs::exists(old));
  EXPECT_TRUE(fs::exists(live));  // a running process's temporary is left alone
  EXPECT_NE(r.output.find("removed 2 temporary file(s) left by stopped runs"), std::string::npos) << r.output;
}

TEST(CacheTrust, SignalsStopCleanlyWithTheirExitCodes) {
  for (auto [sig, code] : std::vector<std::pair<int, int>>{{SIGTERM, 143}, {SIGINT, 130}}) {
    fs::path d = fresh_dir(fmt::format("signal{}", sig));
    fs::path log = fs::path(d.string() + ".log");
    int pid = spawn_jcas(concat({"run"}, tiny_options(d)), log.string());
    // While the source model trains.
    ASSERT_TRUE(wait_for([&] { return fs::exists(d / "source.checkpoint.h5"); })) << read_text(log);
    kill(pid, sig);
    int exit_code = wait_jcas(pid);
    if (exit_code == 0) GTEST_SKIP() << "the run finished before the signal arrived";
    EXPECT_EQ(exit_code, code) << read_text(log);
    EXPECT_TRUE(temporaries(d).empty()) << temporaries(d).front();
    auto r = run_jcas(concat({"run"}, tiny_options(d)));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    expect_same_figures(d, completed_workdir());
  }
}

// kill -9 at random moments (fixed seeds) of a tiny pipeline, again and again; then a run that is
// left alone completes with the figures of an uninterrupted run.
TEST(CacheTrust, KilledAtRandomMomentsResumesToTheSameFigures) {
  fs::path d = fresh_dir("kill9");
  std::mt19937 rng(2026);
  // A whole tiny run takes a few seconds: the moments fall into every stage, and each trial
  // resumes from what the previous ones left.
  std::uniform_int_distribution<int> delay_ms(250, 1000);  // start-up ~0.35 s, the stages ~0.5 s
  int kills = 0;
  for (int trial = 0; trial < 10; ++trial) {
    fs::path log = fs::path(d.string() + fmt::format(".{}.log", trial));
    int pid = spawn_jcas(concat({"run"}, tiny_options(d)), log.string());
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    kill(pid, SIGKILL);
    int code = wait_jcas(pid);
    EXPECT_TRUE(code == 137 || code == 0) << code << read_text(log);
    kills += code == 137;
  }
  EXPECT_GE(kills, 3) << "the trials should interrupt the pipeline, not find it finished";
  auto r = run_jcas(concat({"run"}, tiny_options(d)));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::printf("%d runs killed; the last run ran: %zu stage(s)\n", kills, ran(r.output).size());
  expect_same_figures(d, completed_workdir());
  // What a killed run leaves behind (its temporaries) is cleaned by the next run.
  EXPECT_TRUE(temporaries(d).empty());
}

TEST(CacheTrust, TruncatedCheckpointAndOldFormatAreRedone) {
  fs::path d = copy_of_completed("old_files");
  // A stage file of another cache format version.
  {
    jcas::H5Writer w(d / "round-0" / "derive_affinity.h5");
    w.write("affinity_ntm", torch::eye(2));
    w.attr("/", "jcas_stage", std::string("derive_affinity"));
    w.attr("/", "jcas_round", int64_t{0});
    w.attr("/", "jcas_fingerprint", std::string("0000000000000000"));
    w.attr("/", "jcas_format_version", int64_t{1});
    w.commit();
  }
  auto status = run_jcas(concat({"status"}, tiny_options(d)));
  EXPECT_NE(status.output.find("cache format version 1"), std::string::npos) << status.output;
  // A truncated checkpoint of a stage that must re-run.
  fs::remove(d / "round-0" / "retrain.h5");
  std::ofstream(d / "round-0" / "retrain.checkpoint.h5") << "\x89HDF\r\n";
  auto r = run_jcas(concat({"run"}, tiny_options(d)));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(ran(r.output).count("derive_affinity[0]")) << r.output;
  EXPECT_NE(r.output.find("unusable"), std::string::npos) << r.output;  // the checkpoint, reported
  expect_same_figures(d, completed_workdir());
}

