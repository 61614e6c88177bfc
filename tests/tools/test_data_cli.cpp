#include <gtest/gtest.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "tests/support/cli_runner.h"
#include "tests/support/temp_dir.h"

using jcas::testing::TempDir;
namespace fs = std::filesystem;

namespace {

// Runs the jcas binary with `args`; returns the exit code and fills `output` (stdout + stderr).
int run_jcas(const std::string& args, std::string* output) {
  auto r = jcas::testing::run_jcas_line(args);
  *output = r.output;
  return r.exit_code;
}

}  // namespace

// The library is tested directly elsewhere; these check the command wiring and exit codes.
TEST(DataCli, SynthThenNoise) {
  TempDir dir;
  std::string out;
  const std::string root = (dir.path() / "synth").string();
  // Some options from a config file ([synth], underscore keys), the rest on the command line,
  // which also overrides the file (source_test).
  const fs::path ini = dir.path() / "synth.ini";
  jcas::testing::write_bytes(ini, "[synth]\nsource_train = 3\nsource_test = 7\nsize = 32x40\n");
  ASSERT_EQ(run_jcas("synth --config " + ini.string() + " --out " + root +
                         " --seed 2 --source-val 1 --source-test 2 --target-train 2 --target-val 1"
                         " --target-test 2 --panel " + (dir.path() / "panel.png").string(),
                     &out),
            0)
      << out;
  EXPECT_EQ(jcas::testing::read_bytes(dir.path() / "synth" / "source" / "train.txt"), "train_0000\ntrain_0001\ntrain_0002\n");
  EXPECT_EQ(jcas::testing::read_bytes(dir.path() / "synth" / "source" / "test.txt"), "test_0000\ntest_0001\n");
  EXPECT_TRUE(fs::is_regular_file(dir.path() / "synth" / "target" / "img" / "test_0001.png"));
  EXPECT_TRUE(fs::is_regular_file(dir.path() / "panel.png"));
  const std::string noise_args =
      "noise --data " + root + "/source --kind ellipse --rate 0.2 --seed 1 --out " + root + "/source/noisy";
  ASSERT_EQ(run_jcas(noise_args, &out), 0) << out;
  EXPECT_TRUE(fs::is_regular_file(dir.path() / "synth" / "source" / "noisy" / "train_0002.png"));
  EXPECT_TRUE(fs::is_regular_file(dir.path() / "synth" / "source" / "noisy" / "noise.json"));
}

TEST(DataCli, UserErrorsExitWithCodeTwoAndOneMessage) {
  TempDir dir;
  std::string out;
  EXPECT_EQ(run_jcas("synth --size 12", &out), 2);
  EXPECT_NE(out.find("--out"), std::string::npos) << out;
  EXPECT_EQ(run_jcas("synth --out " + dir.str() + " --size 12", &out), 2);
  EXPECT_NE(out.find("--size"), std::string::npos) << out;
  EXPECT_EQ(run_jcas("noise --data " + dir.str() + "/none --kind erode --rate 0.1 --out " + dir.str() + "/x", &out), 2);
  EXPECT_NE(out.find(dir.str() + "/none"), std::string::npos) << out;
  EXPECT_EQ(run_jcas("noise --data " + dir.str() + " --kind blur --rate 0.1 --out " + dir.str() + "/x", &out), 2);
  EXPECT_NE(out.find("blur"), std::string::npos) << out;
}

// The pipeline's config works for the data commands: its top-level keys are the pipeline's, while a
// wrong key in the command's own section is still an error.
TEST(DataCli, SynthReadsThePipelineConfig) {
  TempDir dir;
  std::string out;
  const std::string config = std::string(JCAS_SOURCE_DIR) + "/configs/quickstart.ini";
  ASSERT_EQ(run_jcas("synth --config " + config + " --out " + dir.str() + "/s --source-train 1 --source-val 1 "
                     "--source-test 1 --target-train 1 --target-val 1 --target-test 1 --size 32x32", &out), 0)
      << out;
  const fs::path ini = dir.path() / "typo.ini";
  jcas::testing::write_bytes(ini, "dist_timeout = 5\n[synth]\nsource_trian = 3\n");
  EXPECT_EQ(run_jcas("synth --config " + ini.string() + " --out " + dir.str() + "/t", &out), 2);
  EXPECT_NE(out.find("unknown option 'synth.source_trian'"), std::string::npos) << out;
}

// `jcas import` end to end: a small Kvasir-like folder pair, its report, and one error exit.
TEST(DataCli, ImportWritesADatasetAndReportsIt) {
  TempDir dir;
  for (int i = 0; i < 4; ++i) {
    cv::Mat image(16, 16, CV_8UC3, cv::Scalar(10 * i, 50, 90)), mask = cv::Mat::zeros(16, 16, CV_8U);
    mask(cv::Rect(4, 4, 6, 6)).setTo(255);
    fs::create_directories(dir.path() / "images");
    fs::create_directories(dir.path() / "masks");
    cv::imwrite((dir.path() / "images" / (std::to_string(i + 1) + ".jpg")).string(), image);
    cv::imwrite((dir.path() / "masks" / (std::to_string(i + 1) + ".jpg")).string(), mask);
  }
  std::string out;
  const std::string base = "import --images " + dir.str() + "/images --masks " + dir.str() + "/masks --out " +
                           dir.str() + "/data --classes background,polyp --threads 1";
  ASSERT_EQ(run_jcas(base + " --split ranges --ranges test=1-1,train=2-4", &out), 0) << out;
  EXPECT_NE(out.find("import: 4 pair(s) into"), std::string::npos) << out;
  EXPECT_NE(out.find("splits: test 1, train 3"), std::string::npos) << out;
  EXPECT_NE(out.find("polyp 14.1 %"), std::string::npos) << out;
  EXPECT_EQ(jcas::testing::read_bytes(dir.path() / "data" / "train.txt"), "2\n3\n4\n");
  EXPECT_EQ(run_jcas(base, &out), 2);
  EXPECT_NE(out.find("jcas import: error: --out: '" + dir.str() + "/data' exists; give --overwrite"), std::string::npos)
      << out;
  EXPECT_EQ(run_jcas(base + " --overwrite --mask-encoding colour", &out), 2);
  EXPECT_NE(out.find("mask-encoding"), std::string::npos) << out;
}
