#include "tests/tools/tiny_pipeline.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <fstream>
#include <regex>

#include "adapters/io/h5_store.h"
#include "tests/support/cli_runner.h"

namespace fs = std::filesystem;

namespace jcas::testing {

std::vector<std::string> tiny_options(const fs::path& workdir) {
  return {"--workdir", workdir.string(), "--rounds", "1", "--threads", "1",
          "--synth.source_train", "12", "--synth.target_train", "8", "--synth.target_val", "2",
          "--synth.target_test", "4", "--synth.size", "32x40", "--data.input_size", "32x40",
          "--model.width", "8", "--model.feat1_dim", "16", "--model.feat2_dim", "16",
          "--source.epochs", "2", "--retrain.epochs", "3", "--retrain.warmup_epochs", "1",
          "--retrain.affinity_grid", "4x5", "--pseudo_label.prob_stride", "2"};
}

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

namespace {
// The fresh directories of this process, removed at exit (a test's output already holds the logs of
// the runs it checks; left behind, hundreds of test runs filled /tmp).
struct ScratchDirs {
  std::vector<fs::path> dirs;
  ~ScratchDirs() {
    std::error_code ignored;
    for (const auto& d : dirs) {
      fs::remove_all(d, ignored);
      // and the logs the tests keep beside it (<dir>.rank0.log, <dir>.a.log, ...)
      const std::string sibling = d.filename().string() + ".";
      for (const auto& e : fs::directory_iterator(d.parent_path(), ignored))
        if (e.path().filename().string().rfind(sibling, 0) == 0) fs::remove_all(e.path(), ignored);
    }
  }
};
ScratchDirs scratch;
}  // namespace

fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("jcas_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(d);
  scratch.dirs.push_back(d);
  return d;
}

const fs::path& completed_workdir() {
  static fs::path dir = [] {
    fs::path d = fs::path(JCAS_TEST_TMP) / "tiny_pipeline";
    fs::create_directories(d.parent_path());
    int lock = open((d.string() + ".lock").c_str(), O_CREAT | O_RDWR, 0644);
    flock(lock, LOCK_EX);
    const std::string binary_id =
        std::to_string(fs::last_write_time(JCAS_BINARY).time_since_epoch().count()) + " " +
        std::to_string(fs::file_size(JCAS_BINARY));
    fs::path marker = d / "completed-by";
    std::string seen;
    if (std::ifstream in{marker}) std::getline(in, seen);
    if (seen != binary_id) {
      fs::remove_all(d);
      auto r = run_jcas(concat({"run"}, tiny_options(d)));
      EXPECT_EQ(r.exit_code, 0) << r.output;
      if (r.exit_code == 0) std::ofstream(marker) << binary_id << "\n";
    }
    flock(lock, LOCK_UN);
    close(lock);
    return d;
  }();
  return dir;
}

fs::path copy_of_completed(const std::string& name) {
  fs::path d = fresh_dir(name);
  fs::copy(completed_workdir(), d, fs::copy_options::recursive);
  fs::remove(d / "completed-by");
  return d;
}

std::string write_small_datasets(const fs::path& dir) {
  auto r = run_jcas({"synth", "--out", dir.string(), "--source-train", "6", "--source-val", "1", "--source-test", "2",
                     "--target-train", "4", "--target-val", "1", "--target-test", "3", "--size", "32x40"});
  return r.exit_code == 0 ? "" : r.output;
}

std::vector<std::string> stages_run(const std::string& log) {
  std::vector<std::string> out;
  std::regex re(R"(run  (\w+\[\d+\]))");
  for (auto it = std::sregex_iterator(log.begin(), log.end(), re); it != std::sregex_iterator(); ++it)
    out.push_back((*it)[1]);
  return out;
}

double metric_of(const fs::path& h5, const std::string& key) {
  return jcas::H5Reader(h5).attr_double("/", "metric." + key);
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

int occurrences(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + what.size())) ++n;
  return n;
}

}  // namespace jcas::testing
