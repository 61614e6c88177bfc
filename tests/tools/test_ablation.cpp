// `jcas ablation --quick` end to end on tiny data: every row of the table, the cache, bad options.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "tests/support/cli_runner.h"
#include "tests/tools/tiny_pipeline.h"

namespace fs = std::filesystem;
using jcas::testing::read_text;
using jcas::testing::occurrences;
using jcas::testing::run_jcas;

namespace {

std::vector<std::string> tiny(const fs::path& workdir, std::vector<std::string> extra = {}, bool quick = true) {
  std::vector<std::string> a = {"ablation", "--workdir", workdir.string(), "--threads", "1",
                                "--synth.source_train", "12", "--synth.target_train", "8", "--synth.target_val", "2",
                                "--synth.target_test", "4", "--synth.size", "32x40", "--data.input_size", "32x40",
                                "--model.width", "8", "--model.feat1_dim", "16", "--model.feat2_dim", "16",
                                "--source.epochs", "2", "--retrain.affinity_grid", "4x5",
                                "--pseudo_label.prob_stride", "2"};
  if (quick) a.push_back("--quick");
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

}  // namespace

TEST(AblationCli, QuickRunHasEveryRowIsCachedAndRerunsOnlyWhatChanged) {
  const fs::path w = jcas::testing::fresh_dir("ablation_quick");
  auto first = run_jcas(tiny(w, {"--noise", "ellipse"}));
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const fs::path report = w / "ablation" / "ellipse-quick.md";
  ASSERT_TRUE(fs::exists(report));
  const std::string md = read_text(report);
  const std::string main_table = md.substr(0, md.find("\nEach row minus Baseline (CE)"));  // the paired tables follow
  EXPECT_NE(md.find("\nJCAS minus each row of the same seed"), std::string::npos) << md;
  for (const char* row : {"| Upper bound (CE, true target labels) |", "| Baseline (CE) |", "| + Affinity |",
                          "| + Affinity + DAR |", "| + Affinity + CALC |", "| JCAS (Affinity + DAR + CALC) |",
                          "| VolMin from the anchor estimate |", "| SparseReg |"})
    EXPECT_EQ(occurrences(main_table, row), 1) << row << "\n" << md;
  // Per-class columns of the synthetic data's classes, and the noise-rate table of every kind.
  for (const char* col : {"Dice shaft", "Dice wrist", "Dice clasper", "Jac clasper"})
    EXPECT_NE(md.find(col), std::string::npos) << col;
  for (const char* kind : {"ellipse noise", "symmetric noise", "asymmetric noise", "pseudo labels of the source model"})
    EXPECT_NE(md.find(kind), std::string::npos) << kind;
  // The upper bound trains on the clean labels: no noise there; the table rows carry numbers.
  EXPECT_TRUE(std::regex_search(md, std::regex(R"(\| Baseline \(CE\) \|  \|  \|  \| \d+\.\d\d)"))) << md;
  EXPECT_EQ(occurrences(first.output, "/8] run  "), 8) << first.output;
  EXPECT_TRUE(fs::exists(w / "ablation" / "clean" / "upper_bound-seed0.h5"));
  EXPECT_TRUE(fs::exists(w / "ablation" / "ellipse" / "jcas-seed0.h5"));
  EXPECT_FALSE(fs::exists(w / "ablation" / "ellipse" / "jcas-seed0.ckpt.h5"));  // removed once the run is stored

  auto second = run_jcas(tiny(w, {"--noise", "ellipse"}));
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_EQ(occurrences(second.output, "/8] run  "), 0) << second.output;
  EXPECT_EQ(occurrences(second.output, "(cached: test mDice"), 8) << second.output;
  EXPECT_EQ(occurrences(read_text(report), " (cached) |"), 8);
  EXPECT_NE(second.output.find("skip pseudo_label[0] (cached)"), std::string::npos) << second.output;
  // Same numbers from the cache as when they ran.
  const std::string md2 = read_text(report);
  auto table = [](const std::string& m) { return m.substr(0, m.find("### Runs")); };
  EXPECT_EQ(table(md), table(md2));

  // A changed noise rate re-runs only the runs trained on the noisy labels.
  auto r = run_jcas(tiny(w, {"--noise", "ellipse", "--variants", "upper_bound,ce", "--ellipse-rate", "0.1",
                             "--out", (w / "changed.md").string()}));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("skip clean/upper_bound seed 0 (cached"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("ellipse/ce seed 0: options changed: rate 0.3 -> 0.1, re-running"), std::string::npos) << r.output;
  const std::string changed = read_text(w / "changed.md");
  EXPECT_NE(changed.find("ellipse noise, rate 0.1"), std::string::npos) << changed;
  EXPECT_EQ(changed.find("| VolMin from the anchor estimate |"), std::string::npos);  // only the rows asked for
}

// Seeds that vary everything (the default): seed 1 is a pipeline of its own (generated data, source
// model, pseudo labels) with its own noise draw; `--seed-varies order` shares seed 0's pipeline and
// draw; switching back reads both from the cache.
TEST(AblationCli, EachSeedHasItsOwnSourceModelAndNoiseDrawUnlessOnlyTheOrderVaries) {
  const fs::path w = jcas::testing::fresh_dir("ablation_seeds");
  const std::vector<std::string> two = {"--noise", "ellipse", "--variants", "ce,jcas", "--seeds", "2",
                                        "--retrain.epochs", "1", "--retrain.warmup_epochs", "0"};
  auto all = run_jcas(tiny(w, two, false));
  ASSERT_EQ(all.exit_code, 0) << all.output;
  const fs::path seed1 = w / "ablation" / "seed1";
  EXPECT_TRUE(fs::exists(seed1 / "source.h5"));
  EXPECT_TRUE(fs::exists(seed1 / "ablation" / "ellipse" / "ce-seed1.h5"));
  EXPECT_TRUE(fs::exists(w / "ablation" / "ellipse" / "ce-seed0.h5"));
  EXPECT_FALSE(fs::exists(w / "ablation" / "ellipse" / "ce-seed1.h5"));
  EXPECT_NE(read_text(seed1 / "config.ini").find("\nseed = 1\n"), std::string::npos);
  // Seed 1's data was generated with its own seed.
  const std::string image = (fs::directory_iterator(w / "data" / "target" / "img"))->path().filename().string();
  EXPECT_NE(read_text(w / "data" / "target" / "img" / image), read_text(seed1 / "data" / "target" / "img" / image));
  const std::string md = read_text(w / "ablation" / "ellipse.md");
  EXPECT_NE(md.find("| ce | 0 | ellipse noise, rate 0.3, noise seed 1 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| ce | 1 | ellipse noise, rate 0.3, noise seed 2 |"), std::string::npos) << md;
  EXPECT_NE(md.find("Seed s ≥ 1 is a pipeline of its own"), std::string::npos) << md;
  // Paired per seed: JCAS minus CE is the mean of the two seeds' differences in the Runs table.
  auto run_dice = [&](const std::string& variant, int seed) {
    std::smatch m;
    const std::regex row("\\| " + variant + " \\| " + std::to_string(seed) + " \\| [^|]+ \\| (\\d+\\.\\d\\d) \\|");
    EXPECT_TRUE(std::regex_search(md, m, row)) << variant << " " << seed << "\n" << md;
    return m.empty() ? 0.0 : std::stod(m[1]);
  };
  const double mean = (run_dice("jcas", 0) - run_dice("ce", 0) + run_dice("jcas", 1) - run_dice("ce", 1)) / 2;
  const std::string against_ce = md.substr(md.find("Each row minus Baseline (CE) of the same seed"));
  std::smatch paired;
  ASSERT_TRUE(std::regex_search(against_ce, paired,
                                std::regex(R"(\| JCAS \(Affinity \+ DAR \+ CALC\) \| ([+-]\d+\.\d\d) \[[+-]\d+\.\d\d, [+-]\d+\.\d\d\] boot \[[^\]]+\], [012]/2 above \|)")))
      << against_ce;
  EXPECT_NEAR(std::stod(paired[1]), mean, 0.0101);
  EXPECT_NE(md.find("JCAS minus each row of the same seed"), std::string::npos) << md;

  std::vector<std::string> order_only = two;
  order_only.insert(order_only.end(), {"--seed-varies", "order", "--out", (w / "order.md").string()});
  auto order = run_jcas(tiny(w, order_only, false));
  ASSERT_EQ(order.exit_code, 0) << order.output;
  EXPECT_NE(order.output.find("skip ellipse/ce seed 0 (cached"), std::string::npos) << order.output;
  EXPECT_EQ(occurrences(order.output, "/4] run  ellipse/ce seed 1"), 1) << order.output;
  EXPECT_TRUE(fs::exists(w / "ablation" / "ellipse" / "ce-seed1.h5"));
  const std::string shared = read_text(w / "order.md");
  EXPECT_NE(shared.find("| ce | 1 | ellipse noise, rate 0.3, noise seed 1 |"), std::string::npos) << shared;
  EXPECT_NE(shared.find("The seeds change the sample order and flips only"), std::string::npos) << shared;

  auto again = run_jcas(tiny(w, two, false));
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(occurrences(again.output, "(cached: test mDice"), 4) << again.output;
}

TEST(AblationCli, BadOptionsAreUserErrors) {
  const fs::path w = jcas::testing::fresh_dir("ablation_bad");
  for (std::vector<std::string> bad : {std::vector<std::string>{"--noise", "gaussian"},
                                       {"--variants", "ce,magic"},
                                       {"--seeds", "0"},
                                       {"--ellipse-rate", "1.5"},
                                       {"--seed-varies", "sometimes"},
                                       {"--estimate_ntm.estimator", "oracle"}}) {
    auto r = run_jcas(tiny(w, bad));
    EXPECT_EQ(r.exit_code, 2) << bad[0] << " " << bad[1] << "\n" << r.output;
    EXPECT_NE(r.output.find("jcas ablation: error:"), std::string::npos) << r.output;
  }
  EXPECT_FALSE(fs::exists(w / "ablation"));  // nothing trained before the options were checked
}
