#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "adapters/foundation/error.h"
#include "adapters/foundation/options.h"

using namespace jcas;

namespace {
po::options_description retrain_options() {
  po::options_description d("retrain");
  d.add_options()("retrain.epochs", po::value<int>()->default_value(3), "epochs")(
      "retrain.lr", po::value<double>()->default_value(0.01), "learning rate")(
      "data.root", po::value<std::string>()->default_value("data"), "root");
  return d;
}

std::string write_ini(const std::string& text) {
  auto path = std::filesystem::temp_directory_path() / fmt::format("jcas_opt_{}.ini", ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::ofstream(path) << text;
  return path.string();
}
}  // namespace

TEST(Options, DefaultsThenFileThenCommandLine) {
  auto ini = write_ini("[retrain]\nepochs = 5\nlr = 0.5\n[data]\nroot = from_file\n");
  auto parsed = parse_options("retrain", "", retrain_options(),
                              {"--config", ini, "--retrain.epochs", "7"});
  EXPECT_EQ(parsed.values["retrain.epochs"].as<int>(), 7);          // command line beats file
  EXPECT_DOUBLE_EQ(parsed.values["retrain.lr"].as<double>(), 0.5);  // file beats default
  EXPECT_EQ(parsed.values["data.root"].as<std::string>(), "from_file");
  auto plain = parse_options("retrain", "", retrain_options(), {});
  EXPECT_EQ(plain.values["retrain.epochs"].as<int>(), 3);  // default
}

TEST(Options, UnknownKeyInOwnSectionIsAnError) {
  auto ini = write_ini("[retrain]\nepoch = 5\n");
  try {
    parse_options("retrain", "", retrain_options(), {"--config", ini});
    FAIL() << "expected UserError";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("retrain.epoch"), std::string::npos) << e.what();
  }
}

TEST(Options, OtherCommandsSectionsAreIgnored) {
  auto ini = write_ini("[synth]\nseed = 3\n[retrain]\nepochs = 2\n");
  auto parsed = parse_options("retrain", "", retrain_options(), {"--config", ini});
  EXPECT_EQ(parsed.values["retrain.epochs"].as<int>(), 2);
}

TEST(Options, BadValuesAndUnknownFlagsAndMissingFile) {
  EXPECT_THROW(parse_options("retrain", "", retrain_options(), {"--retrain.epochs", "many"}), UserError);
  EXPECT_THROW(parse_options("retrain", "", retrain_options(), {"--no-such-option", "1"}), UserError);
  EXPECT_THROW(parse_options("retrain", "", retrain_options(), {"--config", "/nonexistent/x.ini"}), UserError);
}

TEST(Options, ParseSize) {
  EXPECT_EQ(parse_size("128x160", "size"), std::make_pair(128, 160));
  EXPECT_THROW(parse_size("128", "size"), UserError);
  EXPECT_THROW(parse_size("0x5", "size"), UserError);
}
