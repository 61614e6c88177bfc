#pragma once
// A tiny pipeline (a few 32x40 images, 1 round, small model) shared by the end-to-end tests.
#include <filesystem>
#include <string>
#include <vector>

namespace jcas::testing {

std::vector<std::string> tiny_options(const std::filesystem::path& workdir);
std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b);
// An empty directory unique to this test process (under the system's temporary directory), removed
// with everything in it, and the files named after it (<dir>.<anything>: logs), when the process exits.
std::filesystem::path fresh_dir(const std::string& name);
// A work directory where the tiny pipeline has completed. CTest runs tests as parallel processes:
// the first one runs the pipeline under a file lock, the others reuse it; it is redone whenever
// the jcas binary changed.
const std::filesystem::path& completed_workdir();
// A private copy of it to modify.
std::filesystem::path copy_of_completed(const std::string& name);

// A small dataset pair on disk (`jcas synth` at 32x40: source 6/1/2, target 4/1/3 images for
// train/val/test) in DIR/source and DIR/target, as a user's data would be; "" on success, else
// what jcas printed.
std::string write_small_datasets(const std::filesystem::path& dir);

// The stages a run executed, in order, from its "run  retrain[0]" log lines.
std::vector<std::string> stages_run(const std::string& log);
// A headline figure ("metric.<key>" attribute) of a stage result.
double metric_of(const std::filesystem::path& h5, const std::string& key);
std::string read_text(const std::filesystem::path& path);
// How often `what` occurs in `text` (without overlaps).
int occurrences(const std::string& text, const std::string& what);

}  // namespace jcas::testing
