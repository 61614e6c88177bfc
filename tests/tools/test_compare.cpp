// `jcas compare` and `jcas inspect` on the tiny pipeline's cache.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>

#include "adapters/io/h5_store.h"
#include "adapters/io/segmentation_dataset.h"
#include "tests/support/cli_runner.h"
#include "pipeline/metrics/label_noise_stats.h"
#include "pipeline/metrics/segmentation_metrics.h"
#include "tests/tools/tiny_pipeline.h"
#include "tools/report/comparison_report.h"
#include "tools/report/round_comparison.h"

namespace fs = std::filesystem;
using namespace jcas::testing;

namespace {

// The summary row of round `r` in the Markdown report.
std::string summary_row(const std::string& md, int r) {
  std::string prefix = "| " + std::to_string(r) + " |";
  auto at = md.find(prefix);
  if (at == std::string::npos) return "";
  return md.substr(at, md.find('\n', at) - at);
}

// The tiny pipeline's options for `compare`, where --rounds lists the rounds to show.
std::vector<std::string> compare_options(const fs::path& d, std::vector<std::string> rounds = {"--rounds", "0"}) {
  auto opts = tiny_options(d);
  auto at = std::find(opts.begin(), opts.end(), "--rounds");
  opts.erase(at, at + 2);
  return concat(opts, rounds);
}

}  // namespace

TEST(Compare, ReportNumbersEqualMetricsRecomputedFromTheCachedLabels) {
  fs::path d = copy_of_completed("compare");
  auto r = run_jcas(concat({"compare", "--num-images", "2"}, compare_options(d)));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::string md = read_text(d / "report" / "report.md");
  ASSERT_FALSE(md.empty());
  EXPECT_TRUE(fs::exists(d / "report" / "report.html"));

  // Recompute round 0's figures from the cache and the ground truth.
  auto labels = jcas::H5Reader(d / "round-0" / "pseudo_label.h5").read("labels");
  jcas::SegmentationDataset train({(d / "data" / "target").string(), "img", "label", "png", "png", 32, 40}, "train", true);
  jcas::LabelNoiseStats stats(4);
  jcas::SegmentationScore score(4);
  for (size_t i = 0; i < train.size(); ++i) {
    stats.add(train.get(i).label, labels[static_cast<int64_t>(i)]);
    score.add(train.get(i).label, labels[static_cast<int64_t>(i)]);
  }
  auto report = score.report();
  std::string row = summary_row(md, 0);
  ASSERT_FALSE(row.empty()) << md;
  EXPECT_NE(row.find(fmt::format("{:.2f} %", 100 * stats.class_noise_rate())), std::string::npos) << row;
  EXPECT_NE(row.find(fmt::format("{:.2f} %", 100 * stats.affinity_noise_rate())), std::string::npos) << row;
  EXPECT_NE(row.find(fmt::format("{:.4f}", report.mean_jaccard)), std::string::npos) << row;
  double test_mjac = jcas::H5Reader(d / "round-0" / "evaluate.h5").attr_double("/", "metric.test_mjac");
  EXPECT_NE(row.find(fmt::format("{:.4f}", test_mjac)), std::string::npos) << row;
  // The terminal table carries the same row figures.
  EXPECT_NE(r.output.find(fmt::format("{:.2f} %", 100 * stats.class_noise_rate())), std::string::npos) << r.output;

  // Panels: one per requested image, image + ground truth + round 0, side by side (wider than tall).
  int panels = 0;
  for (auto& e : fs::directory_iterator(d / "report" / "panels")) {
    ++panels;
    cv::Mat png = cv::imread(e.path().string());
    ASSERT_FALSE(png.empty()) << e.path();
    EXPECT_GT(png.cols, 3 * 40) << "panel narrower than three tiles";
  }
  EXPECT_EQ(panels, 2);
  // Self-contained HTML: panels inlined, no external references.
  std::string html = read_text(d / "report" / "report.html");
  EXPECT_NE(html.find("data:image/png;base64,"), std::string::npos);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_EQ(html.find("src=\"http"), std::string::npos);
}

TEST(Compare, MissingRoundsAreReportedNotFatal) {
  fs::path d = copy_of_completed("compare_missing");
  auto r = run_jcas(concat({"compare"}, compare_options(d, {"--rounds", "0,1"})));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("pseudo_label[1] is missing"), std::string::npos) << r.output;
  std::string md = read_text(d / "report" / "report.md");
  EXPECT_NE(md.find("## Round 1"), std::string::npos);
  // A stale round says so too.
  r = run_jcas(concat(concat({"compare"}, compare_options(d)), {"--retrain.lambda", "0.3"}));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("retrain[0] is stale"), std::string::npos) << r.output;
  r = run_jcas(concat({"compare"}, compare_options(d, {"--rounds", "x"})));
  EXPECT_EQ(r.exit_code, 2) << r.output;
}

TEST(Compare, HtmlRendersInHeadlessChromium) {
  const char* chromium = "/usr/bin/chromium";
  if (!fs::exists(chromium)) GTEST_SKIP() << "Debian's chromium is not installed (tools/install-deps.sh installs it)";
  fs::path d = copy_of_completed("compare_browser");
  ASSERT_EQ(run_jcas(concat({"compare"}, compare_options(d))).exit_code, 0);
  fs::path shot = d / "report" / "screenshot.png", log = d / "report" / "chromium.log";
  std::string cmd = fmt::format(
      "{} --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking "
      "--disable-component-update --disable-sync --user-data-dir={} --enable-logging=stderr --v=0 "
      "--window-size=1300,1800 --screenshot={} file://{} > {} 2>&1",
      chromium, (d / "chromium-profile").string(), shot.string(), (d / "report" / "report.html").string(),
      log.string());
  ASSERT_EQ(std::system(cmd.c_str()), 0) << read_text(log);
  cv::Mat png = cv::imread(shot.string());
  ASSERT_FALSE(png.empty()) << read_text(log);
  cv::Scalar mean, stddev;
  cv::meanStdDev(png, mean, stddev);
  EXPECT_GT(stddev[0], 5.0) << "blank screenshot";
  std::string text = read_text(log);
  EXPECT_EQ(text.find("CONSOLE"), std::string::npos) << text;
  EXPECT_EQ(text.find("Failed to load"), std::string::npos) << text;
}

// A binary task's 2x2 heatmaps are narrower than their titles: each title must end before the next
// column's begins.
TEST(Compare, BinaryTaskHeatmapTitlesDoNotOverlap) {
  jcas::RoundSummary s;
  s.has_pseudo_labels = true;
  s.estimator = "class_anchor";
  s.estimated_class_ntm = s.true_class_ntm = torch::eye(2);
  const std::string svg = jcas::ntm_heatmaps_svg(s);
  std::vector<double> xs;
  std::vector<size_t> lengths;
  const std::regex title(R"re(<text x="([0-9.]+)" y="[0-9.]+" font-weight="bold">([^<]*)</text>)re");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), title); it != std::sregex_iterator(); ++it) {
    xs.push_back(std::stod((*it)[1]));
    lengths.push_back((*it)[2].length());
  }
  ASSERT_EQ(xs.size(), 6u) << svg;
  for (size_t i : {0u, 1u, 3u, 4u})  // the first two columns of each row
    EXPECT_GE(xs[i + 1] - xs[i], 6.5 * lengths[i] + 10) << "title " << i << " of\n" << svg;
}

TEST(Inspect, EveryStageFileIsListedAndForeignFilesRejected) {
  const fs::path& d = completed_workdir();
  int files = 0;
  for (auto& e : fs::recursive_directory_iterator(d)) {
    if (e.path().extension() != ".h5" || e.path().parent_path().filename() == "data") continue;
    ++files;
    auto r = run_jcas({"inspect", e.path().string()});
    ASSERT_EQ(r.exit_code, 0) << e.path() << r.output;
    std::string stage = e.path().stem().string();
    EXPECT_NE(r.output.find("stage        " + stage + "["), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("fingerprint"), std::string::npos);
    EXPECT_NE(r.output.find("datasets"), std::string::npos);
  }
  EXPECT_EQ(files, 10);  // data, source, evaluate_source, criteria_source + 6 stages of round 0
  auto pl = run_jcas({"inspect", (d / "round-0" / "pseudo_label.h5").string()});
  EXPECT_NE(pl.output.find("labels"), std::string::npos) << pl.output;
  EXPECT_NE(pl.output.find("uint8"), std::string::npos) << pl.output;
  EXPECT_NE(pl.output.find("class_noise_rate"), std::string::npos) << pl.output;

  fs::path foreign = fresh_dir("inspect_foreign");
  fs::create_directories(foreign);
  std::ofstream(foreign / "x.h5") << "not hdf5";
  auto r = run_jcas({"inspect", (foreign / "x.h5").string()});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("x.h5"), std::string::npos) << r.output;
}
