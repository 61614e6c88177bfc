#include <gtest/gtest.h>

#include <cstdlib>

#include "tests/data/data_test_util.h"

using jcas::testing::TempDir;
namespace fs = std::filesystem;

namespace {

// Runs the jcas binary with `args`; returns the exit code and fills `output` (stdout + stderr).
int run_jcas(const std::string& args, const TempDir& dir, std::string* output) {
  const fs::path log = dir.path() / "cli.log";
  const std::string cmd = std::string("\"") + JCAS_BINARY + "\" " + args + " > \"" + log.string() + "\" 2>&1";
  const int status = std::system(cmd.c_str());
  *output = jcas::testing::read_bytes(log);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

// The library is tested directly elsewhere; these check the command wiring and exit codes.
TEST(DataCli, SynthThenNoise) {
  if (!fs::exists(JCAS_BINARY)) GTEST_SKIP() << "jcas binary not built: " << JCAS_BINARY;
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
                     dir, &out),
            0)
      << out;
  EXPECT_EQ(jcas::testing::read_bytes(dir.path() / "synth" / "source" / "train.txt"), "train_0000\ntrain_0001\ntrain_0002\n");
  EXPECT_EQ(jcas::testing::read_bytes(dir.path() / "synth" / "source" / "test.txt"), "test_0000\ntest_0001\n");
  EXPECT_TRUE(fs::is_regular_file(dir.path() / "synth" / "target" / "img" / "test_0001.png"));
  EXPECT_TRUE(fs::is_regular_file(dir.path() / "panel.png"));
  const std::string noise_args =
      "noise --data " + root + "/source --kind ellipse --rate 0.2 --seed 1 --out " + root + "/source/noisy";
  ASSERT_EQ(run_jcas(noise_args, dir, &out), 0) << out;
  EXPECT_TRUE(fs::is_regular_file(dir.path() / "synth" / "source" / "noisy" / "train_0002.png"));
  EXPECT_TRUE(fs::is_regular_file(dir.path() / "synth" / "source" / "noisy" / "noise.json"));
}

TEST(DataCli, UserErrorsExitWithCodeTwoAndOneMessage) {
  if (!fs::exists(JCAS_BINARY)) GTEST_SKIP() << "jcas binary not built: " << JCAS_BINARY;
  TempDir dir;
  std::string out;
  EXPECT_EQ(run_jcas("synth --size 12", dir, &out), 2);
  EXPECT_NE(out.find("--out"), std::string::npos) << out;
  EXPECT_EQ(run_jcas("synth --out " + dir.str() + " --size 12", dir, &out), 2);
  EXPECT_NE(out.find("--size"), std::string::npos) << out;
  EXPECT_EQ(run_jcas("noise --data " + dir.str() + "/none --kind erode --rate 0.1 --out " + dir.str() + "/x", dir, &out), 2);
  EXPECT_NE(out.find(dir.str() + "/none"), std::string::npos) << out;
  EXPECT_EQ(run_jcas("noise --data " + dir.str() + " --kind blur --rate 0.1 --out " + dir.str() + "/x", dir, &out), 2);
  EXPECT_NE(out.find("blur"), std::string::npos) << out;
}
