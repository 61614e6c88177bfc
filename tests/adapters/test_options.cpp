#include <gtest/gtest.h>

#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "adapters/foundation/child_process.h"
#include "adapters/foundation/error.h"
#include "adapters/foundation/interrupt.h"
#include "adapters/foundation/option_binder.h"
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

namespace {
enum class Flavour { plain, spicy };
}  // namespace
template <>
struct jcas::EnumNames<Flavour> {
  static const std::vector<std::pair<Flavour, const char*>>& table() {
    static const std::vector<std::pair<Flavour, const char*>> t = {{Flavour::plain, "plain"}, {Flavour::spicy, "spicy"}};
    return t;
  }
};

namespace {
struct Recipe {
  int servings = 2;
  double salt = 0.5;
  bool oven = true;
  std::string name = "soup";
  ImageSize size{4, 6};
  Flavour flavour = Flavour::plain;
  void bind(OptionBinder& b) {
    OptionBinder s = b.section("recipe");
    s.bind("servings", &servings, "servings");
    s.bind("salt", &salt, "grams of salt");
    s.bind("oven", &oven, "bake it");
    s.bind("name", &name, "name");
    s.bind("size", &size, "tray HxW");
    s.bind("flavour", &flavour, "flavour");
  }
  void check() const {
    if (servings < 1) throw UserError("--recipe.servings must be >= 1");
  }
};
}  // namespace

TEST(OptionBinder, DefaultsAreTheInitialisersAndTextIsCanonical) {
  BoundOptions<Recipe> defaults{OptionValues{}};
  EXPECT_EQ(defaults.canonical(),
            "recipe.flavour=plain\nrecipe.name=soup\nrecipe.oven=true\nrecipe.salt=0.5\nrecipe.servings=2\n"
            "recipe.size=4x6\n");
  EXPECT_EQ(defaults.json()["recipe.size"], "4x6");
  OptionValues v;
  v.set("recipe.salt", "0.50");
  v.set("recipe.oven", "no");
  v.set("recipe.flavour", "spicy");
  v.set("recipe.size", "8X10");
  auto r = v.get<Recipe>();
  EXPECT_DOUBLE_EQ(r.salt, 0.5);
  EXPECT_FALSE(r.oven);
  EXPECT_EQ(r.flavour, Flavour::spicy);
  EXPECT_EQ(r.size, (ImageSize{8, 10}));
  BoundOptions<Recipe> bound{v};
  EXPECT_NE(bound.canonical().find("recipe.salt=0.5\n"), std::string::npos);  // 0.50 == 0.5
  EXPECT_NE(bound.canonical().find("recipe.flavour=spicy\n"), std::string::npos);
}

namespace {
// Recipe with an option added after results were cached.
struct RecipeWithPepper : Recipe {
  double pepper = 0.1;
  void bind(OptionBinder& b) {
    Recipe::bind(b);
    OptionBinder later = b.added_later().section("recipe");
    later.bind("pepper", &pepper, "grams of pepper");
  }
};
}  // namespace

TEST(OptionBinder, AnOptionAddedLaterLeavesTheTextAsItWasAtItsDefault) {
  BoundOptions<Recipe> before{OptionValues{}};
  BoundOptions<RecipeWithPepper> after{OptionValues{}};
  EXPECT_EQ(after.canonical(), before.canonical());  // a cached result keeps its fingerprint
  EXPECT_EQ(after.json()["recipe.pepper"], "0.1");     // records still show it
  OptionValues v;
  v.set("recipe.pepper", "0.3");
  BoundOptions<RecipeWithPepper> peppered{v};
  EXPECT_NE(peppered.canonical(), before.canonical());
  EXPECT_NE(peppered.canonical().find("recipe.pepper=0.3\n"), std::string::npos);
  v.set("recipe.pepper", "0.10");  // its default, written otherwise
  EXPECT_EQ(BoundOptions<RecipeWithPepper>{v}.canonical(), before.canonical());
  EXPECT_NE(bindings_ini(after.bindings()).find("pepper = 0.1\n"), std::string::npos);  // and the INI lists it
}

TEST(OptionBinder, BadTextAndFailedChecksNameTheKey) {
  for (auto [key, text] : std::vector<std::pair<std::string, std::string>>{{"recipe.servings", "2.5"},
                                                                           {"recipe.salt", "lots"},
                                                                           {"recipe.oven", "maybe"},
                                                                           {"recipe.size", "4"},
                                                                           {"recipe.flavour", "sweet"},
                                                                           {"recipe.servings", "0"}}) {
    OptionValues v;
    v.set(key, text);
    try {
      v.get<Recipe>();
      ADD_FAILURE() << key << "=" << text << " accepted";
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  }
}

TEST(OptionBinder, OneKeyBoundTwiceMustAgree) {
  Recipe a, b;
  b.salt = 1.0;  // same key, other default: one option defined twice
  OptionBinder ba, bb;
  a.bind(ba);
  b.bind(bb);
  auto all = ba.bindings();
  EXPECT_EQ(unique_bindings(all).size(), 6u);
  all.insert(all.end(), ba.bindings().begin(), ba.bindings().end());
  EXPECT_EQ(unique_bindings(all).size(), 6u);  // the same binding twice is one option
  all.insert(all.end(), bb.bindings().begin(), bb.bindings().end());
  EXPECT_THROW(unique_bindings(all), std::logic_error);
}

TEST(OptionBinder, DeclaredParsedAndWrittenAsIni) {
  BoundOptions<Recipe> defaults{OptionValues{}};
  po::options_description desc;
  declare_options(defaults.bindings(), desc);
  auto ini_path = write_ini("[recipe]\nservings = 4\n");
  auto parsed = parse_options("cook", "", desc, {"--config", ini_path, "--recipe.flavour", "spicy"});
  auto values = resolve_options(defaults.bindings(), parsed.values);
  EXPECT_EQ(values.all().at("recipe.servings"), "4");
  EXPECT_EQ(values.all().at("recipe.flavour"), "spicy");
  EXPECT_EQ(values.all().at("recipe.salt"), "0.5");
  const std::string ini = bindings_ini(defaults.bindings(), values);
  EXPECT_NE(ini.find("[recipe]\n# servings\nservings = 4\n"), std::string::npos) << ini;
  EXPECT_NE(ini.find("# flavour (plain | spicy)\nflavour = spicy\n"), std::string::npos) << ini;
}

TEST(Threads, AvailableCpusFollowOmpAndTheAffinityMask) {
  const char* saved = std::getenv("OMP_NUM_THREADS");
  const std::string keep = saved ? saved : "";
  setenv("OMP_NUM_THREADS", "3", 1);
  EXPECT_EQ(available_cpus(), 3);
  unsetenv("OMP_NUM_THREADS");
  cpu_set_t all, one;
  ASSERT_EQ(sched_getaffinity(0, sizeof all, &all), 0);
  EXPECT_LE(available_cpus(), CPU_COUNT(&all));
  CPU_ZERO(&one);
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &all)) {
      CPU_SET(c, &one);
      break;
    }
  ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
  EXPECT_EQ(available_cpus(), 1);  // a process pinned to one core (taskset, Slurm) uses one thread
  sched_setaffinity(0, sizeof all, &all);
  if (saved) setenv("OMP_NUM_THREADS", keep.c_str(), 1);
}

// The first SIGINT/SIGTERM only asks to stop at the next safe point; a second one ends the process
// at once with the signal's own action.
TEST(Interrupt, FirstSignalAsksSecondStops) {
  pid_t child = fork();
  if (child == 0) {
    install_interrupt_handler();
    raise(SIGTERM);
    if (interrupt_signal() != SIGTERM) _exit(3);
    raise(SIGTERM);
    _exit(4);  // not reached
  }
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << "exit " << WEXITSTATUS(status);
  child = fork();
  if (child == 0) {
    install_interrupt_handler();
    raise(SIGINT);
    try {
      check_interrupted();
    } catch (const Interrupted&) {
      _exit(interrupt_signal() == SIGINT ? 0 : 5);
    }
    _exit(6);
  }
  waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

// The environment of processes jcas starts side by side: OpenMP threads that sleep while they wait
// (spinning ones made three runs on two cores take 4.5x as long), unless the user chose a policy.
TEST(ChildProcess, ProcessesSharingCoresGetSleepingOpenMPThreadsUnlessTheUserChose) {
  const char* saved = std::getenv("OMP_WAIT_POLICY");
  const std::string kept = saved ? saved : "";
  unsetenv("OMP_WAIT_POLICY");
  EXPECT_TRUE(jcas::shared_core_environment(1).empty());
  EXPECT_EQ(jcas::shared_core_environment(3), (std::map<std::string, std::string>{{"OMP_WAIT_POLICY", "PASSIVE"}}));
  setenv("OMP_WAIT_POLICY", "ACTIVE", 1);
  EXPECT_TRUE(jcas::shared_core_environment(3).empty());
  // environment_with: named variables dropped, the given ones set (replacing this process's).
  setenv("JCAS_TEST_DROPPED", "1", 1);
  const auto env = jcas::environment_with({"JCAS_TEST_DROPPED"}, {{"OMP_WAIT_POLICY", "PASSIVE"}});
  EXPECT_EQ(std::count(env.begin(), env.end(), "OMP_WAIT_POLICY=PASSIVE"), 1);
  EXPECT_EQ(std::count(env.begin(), env.end(), "OMP_WAIT_POLICY=ACTIVE"), 0);
  EXPECT_EQ(std::count(env.begin(), env.end(), "JCAS_TEST_DROPPED=1"), 0);
  unsetenv("JCAS_TEST_DROPPED");
  if (saved) setenv("OMP_WAIT_POLICY", kept.c_str(), 1); else unsetenv("OMP_WAIT_POLICY");
}
