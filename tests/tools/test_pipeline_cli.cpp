// End-to-end: a tiny pipeline (a few small images, 1 round) through the jcas binary.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <set>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <thread>

#include "adapters/io/h5_store.h"
#include "tests/support/cli_runner.h"
#include "tests/tools/tiny_pipeline.h"

namespace fs = std::filesystem;
using namespace jcas::testing;


TEST(PipelineCli, TinyRunCompletesAndEveryStageIsDone) {
  const fs::path& d = completed_workdir();
  // The work directory knows its configuration: --workdir alone finds every stage done.
  EXPECT_TRUE(fs::exists(d / "config.ini"));
  auto status = run_jcas({"status", "--json", "--workdir", d.string()});
  ASSERT_EQ(status.exit_code, 0) << status.output;
  // Log lines go to stderr, the JSON object is the last line of the output.
  const std::string text = status.output.substr(status.output.rfind("{\"stages\""));
  const auto json = nlohmann::json::parse(text);
  std::set<std::string> stages, metrics;
  for (const auto& s : json.at("stages")) {
    EXPECT_EQ(s.at("state"), "done") << s.dump();
    EXPECT_EQ(s.at("threads"), 1) << s.dump();  // the tiny pipeline's --threads 1, as each stage recorded it
    stages.insert(s.at("stage").get<std::string>());
    for (const auto& [k, v] : s.at("metrics").items()) metrics.insert(k);
  }
  EXPECT_EQ(stages, (std::set<std::string>{"data", "source", "evaluate_source", "criteria_source", "pseudo_label",
                                           "estimate_ntm", "derive_affinity", "retrain", "evaluate", "criteria"}));
  EXPECT_TRUE(metrics.count("test_mjac"));
  EXPECT_TRUE(metrics.count("lf_expected_mjac"));
  EXPECT_TRUE(metrics.count("class_noise_rate"));
  // Results are complete HDF5 files with their record; nothing temporary is left.
  for (auto& e : fs::recursive_directory_iterator(d)) EXPECT_NE(e.path().extension(), ".tmp") << e.path();
  jcas::H5Reader retrain(d / "round-0" / "retrain.h5");
  EXPECT_TRUE(retrain.has("model"));
  EXPECT_EQ(retrain.read("learned_class_ntm").sizes(), (std::vector<int64_t>{4, 4}));
  EXPECT_TRUE(fs::exists(d / "round-0" / "pseudo_labels"));
}

TEST(PipelineCli, SecondRunSkipsEverything) {
  fs::path d = copy_of_completed("rerun");
  auto r = run_jcas(concat({"run"}, tiny_options(d)));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(stages_run(r.output).empty()) << r.output;
  EXPECT_NE(r.output.find("skip retrain[0]"), std::string::npos) << r.output;
}

TEST(PipelineCli, OptionChangeRerunsExactlyTheAffectedStages) {
  fs::path d = copy_of_completed("option_change");
  auto changed = concat(tiny_options(d), {"--retrain.lambda", "0.2"});
  auto status = run_jcas(concat({"status"}, changed));
  EXPECT_NE(status.output.find("stale"), std::string::npos) << status.output;
  auto r = run_jcas(concat({"run"}, changed));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(stages_run(r.output), (std::vector<std::string>{"retrain[0]", "evaluate[0]", "criteria[0]"})) << r.output;

  // An estimator change re-runs the estimate and everything downstream of it, not the pseudo labels.
  auto estimator = concat(changed, {"--estimate_ntm.estimator", "confident"});
  r = run_jcas(concat({"run"}, estimator));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(stages_run(r.output),
            (std::vector<std::string>{"estimate_ntm[0]", "derive_affinity[0]", "retrain[0]", "evaluate[0]", "criteria[0]"}))
      << r.output;
}

TEST(PipelineCli, ForceRerunsOneStage) {
  fs::path d = copy_of_completed("force");
  auto r = run_jcas(concat({"run", "--force", "derive_affinity[0]"}, tiny_options(d)));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(stages_run(r.output), (std::vector<std::string>{"derive_affinity[0]"})) << r.output;
  r = run_jcas(concat({"run", "--force", "no_such_stage"}, tiny_options(d)));
  EXPECT_EQ(r.exit_code, 2) << r.output;
}

TEST(PipelineCli, TruncatedOrForeignCacheFileIsReportedAndRerun) {
  fs::path d = copy_of_completed("corrupt");
  fs::path est = d / "round-0" / "estimate_ntm.h5";
  fs::resize_file(est, fs::file_size(est) / 2);
  {
    jcas::H5Writer foreign(d / "round-0" / "derive_affinity.h5");  // valid HDF5, not a jcas result
    foreign.write("x", torch::ones({3}));
    foreign.commit();
  }
  auto status = run_jcas(concat({"status"}, tiny_options(d)));
  EXPECT_NE(status.output.find("estimate_ntm.h5"), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("not a jcas stage result"), std::string::npos) << status.output;
  auto r = run_jcas(concat({"run"}, tiny_options(d)));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto ran = stages_run(r.output);
  EXPECT_EQ(ran, (std::vector<std::string>{"estimate_ntm[0]", "derive_affinity[0]"})) << r.output;
}

TEST(PipelineCli, StageNamesTheMissingInput) {
  fs::path d = fresh_dir("missing_input");
  auto r = run_jcas(concat({"stage", "retrain", "--round", "0"}, tiny_options(d)));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("jcas stage"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("internal error"), std::string::npos) << r.output;
}

TEST(PipelineCli, BadOptionsGiveOneClearError) {
  fs::path d = fresh_dir("bad_options");
  for (auto extra : std::vector<std::vector<std::string>>{{"--retrain.method", "magic"},
                                                          {"--device", "tpu"},
                                                          {"--rounds", "0"},
                                                          {"--retrain.epochs", "lots"},
                                                          {"--no-such-option", "1"}}) {
    auto r = run_jcas(concat(concat({"run"}, tiny_options(d)), extra));
    EXPECT_EQ(r.exit_code, 2) << extra[0] << ": " << r.output;
    EXPECT_NE(r.output.find("error"), std::string::npos) << r.output;
  }
}

TEST(PipelineCli, InterruptedRetrainResumesToTheSameResult) {
  const fs::path& reference = completed_workdir();
  fs::path d = copy_of_completed("interrupt");
  for (const char* f : {"retrain.h5", "evaluate.h5"}) fs::remove(d / "round-0" / f);
  // Interrupt as soon as the first epoch's checkpoint exists.
  fs::path log = d / "interrupted.log";
  fs::path ckpt = d / "round-0" / "retrain.checkpoint.h5";
  int pid = jcas::testing::spawn_jcas(concat({"run"}, tiny_options(d)), log.string());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (!fs::exists(ckpt) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(fs::exists(ckpt));
  kill(pid, SIGINT);
  int code = jcas::testing::wait_jcas(pid);
  if (code == 0) GTEST_SKIP() << "retrain finished before the interrupt arrived";
  EXPECT_EQ(code, 130);
  EXPECT_FALSE(fs::exists(d / "round-0" / "retrain.h5"));
  EXPECT_TRUE(fs::exists(ckpt));

  auto r = run_jcas(concat({"run"}, tiny_options(d)));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("resumed from checkpoint"), std::string::npos) << r.output;
  jcas::H5Reader resumed(d / "round-0" / "retrain.h5"), uninterrupted(reference / "round-0" / "retrain.h5");
  EXPECT_GT(resumed.attr_int("/", "resumed_from_epoch"), 0);
  // Same seed, same batches, same arithmetic on CPU: the resumed weights equal the uninterrupted ones.
  double worst = 0;
  auto names = uninterrupted.list("model");
  ASSERT_FALSE(names.empty());
  for (const auto& name : names) {
    auto a = resumed.read("model/" + name).to(torch::kFloat64), b = uninterrupted.read("model/" + name).to(torch::kFloat64);
    worst = std::max(worst, (a - b).abs().max().item<double>());
  }
  EXPECT_LT(worst, 1e-5) << "largest weight difference, resumed vs uninterrupted";
  std::printf("resumed vs uninterrupted: largest weight difference %.3g\n", worst);
  EXPECT_NEAR(metric_of(d / "round-0" / "evaluate.h5", "test_mjac"),
              metric_of(reference / "round-0" / "evaluate.h5", "test_mjac"), 1e-6);
}

TEST(PipelineCli, ValidationSelectionKeepsTheBestEpoch) {
  fs::path d = copy_of_completed("select_val");
  auto r = run_jcas(concat(concat({"run"}, tiny_options(d)), {"--retrain.select", "val"}));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(stages_run(r.output), (std::vector<std::string>{"retrain[0]", "evaluate[0]", "criteria[0]"})) << r.output;
  jcas::H5Reader retrain(d / "round-0" / "retrain.h5");
  EXPECT_EQ(retrain.attr_string("/", "selection"), "best validation mJac");
  auto epoch = retrain.attr_int("/", "selected_epoch");
  EXPECT_GE(epoch, 1);
  EXPECT_LE(epoch, 3);
  EXPECT_NE(r.output.find("validation mJac"), std::string::npos) << r.output;
}

TEST(PipelineCli, SourceWeightsImportedStageByStage) {
  const fs::path& reference = completed_workdir();
  fs::path d = fresh_dir("import");
  auto opts = concat(tiny_options(d), {"--source.weights", (reference / "source.h5").string()});
  // A stage name the pipeline does not have is refused before the work directory is touched.
  auto unknown = run_jcas(concat({"stage", "nonsense"}, opts));
  EXPECT_EQ(unknown.exit_code, 2) << unknown.output;
  EXPECT_NE(unknown.output.find("no stage nonsense[0] in this pipeline"), std::string::npos) << unknown.output;
  EXPECT_FALSE(fs::exists(d / "config.ini"));
  EXPECT_FALSE(fs::exists(d / "jcas.log"));
  for (const char* stage : {"data", "source"}) {
    auto r = run_jcas(concat({"stage", stage}, opts));
    ASSERT_EQ(r.exit_code, 0) << stage << ": " << r.output;
  }
  // The work directory knows its configuration: a stage given only --workdir continues it.
  auto continued = run_jcas({"stage", "evaluate_source", "--workdir", d.string()});
  ASSERT_EQ(continued.exit_code, 0) << continued.output;
  EXPECT_DOUBLE_EQ(metric_of(d / "round-0" / "evaluate_source.h5", "test_mjac"),
                   metric_of(reference / "round-0" / "evaluate_source.h5", "test_mjac"));
  // The transductive score is a stage of its own, part of the pipeline only when asked for.
  auto off = run_jcas(concat({"stage", "evaluate_adapted_source"}, opts));
  EXPECT_EQ(off.exit_code, 2) << off.output;
  EXPECT_NE(off.output.find("stage evaluate_adapted_source is not part of this pipeline: --evaluate.adapted is false"),
            std::string::npos)
      << off.output;
  auto both = run_jcas(concat({"stage", "evaluate_source", "evaluate_adapted_source", "--evaluate.adapted", "true"}, opts));
  ASSERT_EQ(both.exit_code, 0) << both.output;
  const double adapted = metric_of(d / "round-0" / "evaluate_adapted_source.h5", "adapted_mjac");
  EXPECT_TRUE(adapted >= 0 && adapted <= 1) << adapted;  // recorded (the tiny model is weak)
  // The imported model is the trained one: same weights, same test score.
  jcas::H5Reader imported(d / "source.h5"), trained(reference / "source.h5");
  for (const auto& name : trained.list("model"))
    ASSERT_TRUE(torch::equal(imported.read("model/" + name), trained.read("model/" + name))) << name;
  EXPECT_DOUBLE_EQ(metric_of(d / "round-0" / "evaluate_source.h5", "test_mjac"),
                   metric_of(reference / "round-0" / "evaluate_source.h5", "test_mjac"));
  // A file that is not a jcas model is refused with one clear message.
  auto bad = concat(tiny_options(fresh_dir("import_bad")), {"--source.weights", (reference / "data.h5").string()});
  ASSERT_EQ(run_jcas(concat({"stage", "data"}, bad)).exit_code, 0);
  auto r = run_jcas(concat({"stage", "source"}, bad));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("data.h5"), std::string::npos) << r.output;
}

// Source-free for real: a target without labels runs every adaptation stage; the evaluations are
// left out with one line saying why. A target labelled for its test split only is evaluated.
TEST(PipelineCli, UnlabelledTargetAdaptsAndSaysWhatIsLeftOut) {
  fs::path d = fresh_dir("unlabelled");
  ASSERT_EQ(write_small_datasets(d / "ds"), "");
  const fs::path labels = d / "ds" / "target" / "label";
  fs::rename(labels, d / "target_labels");
  auto opts = concat(tiny_options(d / "work"),
                     {"--data.source", (d / "ds" / "source").string(), "--data.target", (d / "ds" / "target").string()});
  auto r = run_jcas(concat({"run"}, opts));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(stages_run(r.output),
            (std::vector<std::string>{"source[0]", "criteria_source[0]", "pseudo_label[0]", "estimate_ntm[0]",
                                      "derive_affinity[0]", "retrain[0]", "criteria[0]"}))
      << r.output;
  EXPECT_NE(r.output.find("skip evaluate_source"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("the target split 'test' has no labels"), std::string::npos) << r.output;
  auto status = run_jcas(concat({"status"}, opts));
  ASSERT_EQ(status.exit_code, 0) << status.output;
  EXPECT_NE(status.output.find("entropy"), std::string::npos) << status.output;
  EXPECT_EQ(status.output.find("evaluate"), std::string::npos) << status.output;
  // The predicted class distribution is in the record: shares of every class, summing to 1.
  auto json = run_jcas(concat({"status", "--json"}, opts));
  ASSERT_EQ(json.exit_code, 0) << json.output;
  double share_sum = 0;
  const auto parsed = nlohmann::json::parse(json.output.substr(json.output.rfind("{\"stages\"")));
  for (const auto& s : parsed.at("stages"))
    if (s.at("stage") == "pseudo_label")
      for (int c = 0; c < 4; ++c) share_sum += s.at("metrics").at("class_share_" + std::to_string(c)).get<double>();
  EXPECT_NEAR(share_sum, 1.0, 1e-9) << json.output;
  auto compare = run_jcas(concat({"compare"}, opts));
  EXPECT_EQ(compare.exit_code, 0) << compare.output;
  auto select_val = run_jcas(concat({"run", "--retrain.select", "val"}, opts));
  EXPECT_EQ(select_val.exit_code, 2) << select_val.output;
  EXPECT_NE(select_val.output.find("--retrain.select val needs labels"), std::string::npos) << select_val.output;

  // Labels for the test split only: the evaluations come back, nothing else re-runs.
  fs::create_directories(labels);
  for (const auto& e : fs::directory_iterator(d / "target_labels"))
    if (e.path().filename().string().rfind("test_", 0) == 0) fs::copy_file(e.path(), labels / e.path().filename());
  auto labelled = run_jcas(concat({"run"}, opts));
  ASSERT_EQ(labelled.exit_code, 0) << labelled.output;
  EXPECT_EQ(stages_run(labelled.output), (std::vector<std::string>{"evaluate_source[0]", "evaluate[0]"}))
      << labelled.output;
}

// Pseudo labels as files: class ids at the images' size that `jcas labels stats` reads, a coloured
// copy, and names with sub-folders kept apart (two sequences' frame000 do not overwrite each other).
TEST(PipelineCli, PseudoLabelFilesKeepNamesAndFeedLabelStats) {
  const fs::path& c = completed_workdir();
  auto stats = run_jcas({"labels", "stats", "--data", (c / "data" / "target").string(), "--split", "train", "--noisy",
                         (c / "round-0" / "pseudo_labels").string(), "--json"});
  ASSERT_EQ(stats.exit_code, 0) << stats.output;
  const auto json = nlohmann::json::parse(stats.output.substr(stats.output.rfind("{\"")));
  EXPECT_NEAR(json.at("class_noise_rate").get<double>(), metric_of(c / "round-0" / "pseudo_label.h5", "class_noise_rate"),
              1e-9);
  EXPECT_TRUE(fs::exists(c / "round-0" / "pseudo_labels_color" / "train_0000.png"));

  fs::path d = fresh_dir("subfolders");
  ASSERT_EQ(write_small_datasets(d / "ds"), "");
  const fs::path t = d / "ds" / "target";
  for (const char* dir : {"img", "label"})
    for (auto [from, to] : std::vector<std::pair<const char*, const char*>>{{"train_0000", "seq_a/frame"},
                                                                             {"train_0001", "seq_b/frame"}}) {
      fs::create_directories((t / dir / to).parent_path());
      fs::rename(t / dir / (std::string(from) + ".png"), t / dir / (std::string(to) + ".png"));
    }
  std::ofstream(t / "train.txt") << "seq_a/frame\nseq_b/frame\ntrain_0002\ntrain_0003\n";
  // JPG images with PNG masks, as Kvasir-SEG and CVC-ClinicDB ship them.
  std::vector<fs::path> images;
  for (const char* ds : {"source", "target"})
    for (const auto& entry : fs::recursive_directory_iterator(d / "ds" / ds / "img"))
      if (entry.path().extension() == ".png") images.push_back(entry.path());
  for (const auto& png : images) {
    ASSERT_TRUE(cv::imwrite(fs::path(png).replace_extension(".jpg").string(), cv::imread(png.string())));
    fs::remove(png);
  }
  auto opts = concat(tiny_options(d / "work"), {"--data.source", (d / "ds" / "source").string(), "--data.target",
                                                t.string(), "--data.image_ext", "jpg"});
  auto r = run_jcas(concat({"run"}, opts));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* name : {"seq_a/frame.png", "seq_b/frame.png"}) {
    EXPECT_TRUE(fs::exists(d / "work" / "round-0" / "pseudo_labels" / name)) << name;
    EXPECT_TRUE(fs::exists(d / "work" / "round-0" / "pseudo_labels_color" / name)) << name;
  }
  // predict keeps names and sub-folders; labels come at each image's own size.
  fs::copy(t / "img", d / "to_predict", fs::copy_options::recursive);
  const fs::path jpg = d / "to_predict" / "seq_a" / "frame.jpg";
  cv::Mat wide;
  cv::resize(cv::imread(jpg.string()), wide, cv::Size(60, 30));
  ASSERT_TRUE(cv::imwrite(jpg.string(), wide));
  auto pred = run_jcas({"predict", "--workdir", (d / "work").string(), "--images", (d / "to_predict").string(),
                        "--out", (d / "pred").string(), "--color"});
  ASSERT_EQ(pred.exit_code, 0) << pred.output;
  cv::Mat predicted = cv::imread((d / "pred" / "seq_a" / "frame.png").string(), cv::IMREAD_UNCHANGED);
  ASSERT_FALSE(predicted.empty()) << pred.output;
  EXPECT_EQ(predicted.type(), CV_8UC1);
  EXPECT_EQ(predicted.size(), cv::Size(60, 30));
  double top = 0;
  cv::minMaxLoc(predicted, nullptr, &top);
  EXPECT_LT(top, 4);
  EXPECT_TRUE(fs::exists(d / "pred" / "seq_b" / "frame.png"));
  EXPECT_TRUE(fs::exists(d / "pred" / "test_0000.png"));
  EXPECT_TRUE(fs::exists(d / "pred_color" / "seq_b" / "frame.png"));
  auto again = run_jcas({"predict", "--workdir", (d / "work").string(), "--images", (d / "to_predict").string(),
                         "--out", (d / "pred").string()});
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.output.find("--overwrite"), std::string::npos) << again.output;

  // compare's --rounds lists the rounds to show.
  *(std::find(opts.begin(), opts.end(), "--rounds") + 1) = "0";
  auto cmp = run_jcas(concat({"compare", "--images", "seq_a/frame,seq_b/frame"}, opts));
  ASSERT_EQ(cmp.exit_code, 0) << cmp.output;
  EXPECT_TRUE(fs::exists(d / "work" / "report" / "panels" / "panel_seq_a_frame.png")) << cmp.output;
  EXPECT_TRUE(fs::exists(d / "work" / "report" / "panels" / "panel_seq_b_frame.png")) << cmp.output;
}

// jcas's OpenMP threads spin a bounded while, then sleep (no collapse when processes share cores),
// unless the user chose: the run log names what the process ran with. The default needs a re-execution
// (libgomp reads the variables when it loads), which the "(jcas's default)" marker shows happened.
TEST(PipelineCli, OpenMpWaitingIsBoundedUnlessTheUserChose) {
  struct SavedVariable {
    std::string name;
    std::optional<std::string> value;
    explicit SavedVariable(const char* n) : name(n) {
      if (const char* v = std::getenv(n)) value = v;
      unsetenv(n);
    }
    ~SavedVariable() {
      if (value) setenv(name.c_str(), value->c_str(), 1); else unsetenv(name.c_str());
    }
  } policy("OMP_WAIT_POLICY"), spin("GOMP_SPINCOUNT");
  const fs::path d = fresh_dir("openmp_waiting");
  auto waiting = [&] {
    auto r = run_jcas(concat({"stage", "data"}, tiny_options(d)));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    const std::string log = read_text(d / "jcas.log");
    const auto at = log.rfind("OpenMP waiting: ");
    // The rest of the command's header line: "<what>)".
    return at == std::string::npos ? log : log.substr(at + 16, log.find('\n', at) - (at + 16));
  };
  EXPECT_EQ(waiting(), "GOMP_SPINCOUNT=1000 (jcas's default))");
  setenv("OMP_WAIT_POLICY", "ACTIVE", 1);
  EXPECT_EQ(waiting(), "OMP_WAIT_POLICY=ACTIVE)");
  unsetenv("OMP_WAIT_POLICY");
  setenv("GOMP_SPINCOUNT", "5", 1);
  EXPECT_EQ(waiting(), "GOMP_SPINCOUNT=5)");
}
