// A method added from outside jcas (one file and one registration) runs through `jcas run` like a
// built-in one: its loss trains the round's model, its name reaches the stage's options.
#include <gtest/gtest.h>

#include "adapters/io/h5_store.h"
#include "tests/support/cli_runner.h"
#include "pipeline/training/adaptation_registry.h"
#include "tests/tools/tiny_pipeline.h"
#include "tools/jcas/commands.h"
#include "tests/tools/toy_method.h"

namespace fs = std::filesystem;
using namespace jcas;
using namespace jcas::testing;

TEST(MethodExtension, AToyMethodRunsThroughJcasRun) {
  const fs::path dir = copy_of_completed("method_extension");
  // The binary does not know the method: it is not part of jcas.
  auto outside = run_jcas(concat({"run"}, concat(tiny_options(dir), {"--retrain.method", "focal"})));
  EXPECT_EQ(outside.exit_code, 2) << outside.output;
  EXPECT_NE(outside.output.find("unknown adaptation method 'focal'"), std::string::npos) << outside.output;

  register_adaptation_method(focal_method());  // the one line that adds it
  ASSERT_EQ(commands::run(concat(tiny_options(dir), {"--retrain.method", "focal"})), 0);
  EXPECT_GT(focal_loss_calls(), 0);
  const fs::path retrain = dir / "round-0" / "retrain.h5";
  ASSERT_TRUE(fs::exists(retrain));
  EXPECT_GT(metric_of(retrain, "final_loss"), 0);
  H5Reader in(retrain);
  EXPECT_FALSE(in.has("learned_class_ntm"));  // its loss learns no NTM
  EXPECT_GE(metric_of(dir / "round-0" / "evaluate.h5", "test_mjac"), 0);  // evaluated (the tiny model is weak)
}
