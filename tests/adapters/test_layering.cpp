// The folders are the layers (README, "Architecture"): a source file may include its own layer
// and the layers below it, never one above. This test reads every include of the project.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

// Lowest first; a folder's rank is that of the longest prefix that matches.
const std::vector<std::pair<std::string, int>> kLayers = {
    {"adapters/foundation/", 0}, {"adapters/io/", 1},      {"data/", 2},
    {"pipeline/method/", 3},     {"pipeline/model/", 3},   {"pipeline/metrics/", 3},
    {"pipeline/execution/", 4},  {"pipeline/training/", 5},
    {"pipeline/cache/", 6},      {"pipeline/runner/", 6},  {"stages/", 7},
    {"tools/report/", 8},        {"tools/ablation/", 8},   {"tools/benchmark/", 8},   {"tools/bench/", 8},
    {"tools/jcas/", 9},
};

// Each test folder tests one layer (the folder of the same name) and may include up to it; tests/support
// is shared by every group and includes the foundation only.
const std::map<std::string, int> kTestFolders = {
    {"support", 0}, {"adapters", 1}, {"data", 2},     {"method", 3}, {"model", 3},  {"metrics", 3},
    {"execution", 4}, {"training", 5}, {"runner", 6}, {"stages", 7}, {"tools", 9},
};

const std::regex kInclude(R"(^\s*#\s*include\s*"([^"]+)\")");

int layer_of(const std::string& path) {
  int rank = -1;
  size_t best = 0;
  for (const auto& [prefix, r] : kLayers)
    if (path.rfind(prefix, 0) == 0 && prefix.size() > best) {
      best = prefix.size();
      rank = r;
    }
  return rank;
}

std::vector<std::string> project_sources() {
  std::vector<std::string> files;
  const fs::path root = JCAS_SOURCE_DIR;
  for (const char* top : {"adapters", "data", "pipeline", "stages", "tools"})
    for (const auto& e : fs::recursive_directory_iterator(root / top)) {
      auto ext = e.path().extension();
      if (e.is_regular_file() && (ext == ".h" || ext == ".cpp"))
        files.push_back(fs::relative(e.path(), root).generic_string());
    }
  return files;
}

}  // namespace

TEST(Layering, EveryFolderHasALayer) {
  auto files = project_sources();
  ASSERT_GT(files.size(), 50u);
  for (const auto& f : files) EXPECT_GE(layer_of(f), 0) << f << " lies in no layer of the table";
}

TEST(Layering, NoIncludeRunsUp) {
  const std::regex& include = kInclude;
  int checked = 0;
  for (const auto& f : project_sources()) {
    std::ifstream in(fs::path(JCAS_SOURCE_DIR) / f);
    std::string line;
    std::smatch m;
    while (std::getline(in, line)) {
      if (!std::regex_search(line, m, include)) continue;
      const std::string target = m[1];
      if (target.find('/') == std::string::npos) continue;  // generated (jcas_version.h) or local
      const int to = layer_of(target);
      ASSERT_GE(to, 0) << f << " includes " << target << ", which lies in no layer";
      EXPECT_LE(to, layer_of(f)) << f << " (layer " << layer_of(f) << ") includes " << target << " (layer " << to
                                 << ")";
      ++checked;
    }
  }
  EXPECT_GT(checked, 100);
}

TEST(Layering, TestFoldersMirrorTheLayers) {
  const fs::path tests = fs::path(JCAS_SOURCE_DIR) / "tests";
  int checked = 0;
  for (const auto& folder : fs::directory_iterator(tests)) {
    const std::string name = folder.path().filename().string();
    if (!folder.is_directory() || name == "fixtures" || name == "python") continue;
    ASSERT_TRUE(kTestFolders.count(name)) << "tests/" << name << " mirrors no layer (table above)";
    const int own = kTestFolders.at(name);
    for (const auto& e : fs::directory_iterator(folder.path())) {
      std::ifstream in(e.path());
      std::string line;
      std::smatch m;
      while (std::getline(in, line)) {
        if (!std::regex_search(line, m, kInclude)) continue;
        const std::string target = m[1];
        const std::string where = "tests/" + name + "/" + e.path().filename().string() + " includes " + target;
        if (target.rfind("tests/", 0) == 0) {
          EXPECT_TRUE(target.rfind("tests/support/", 0) == 0 || target.rfind("tests/" + name + "/", 0) == 0)
              << where << ": a test shares helpers through tests/support only";
        } else if (target.find('/') != std::string::npos) {
          EXPECT_LE(layer_of(target), own) << where << ", above the layer its folder tests";
        }
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 100);
}
