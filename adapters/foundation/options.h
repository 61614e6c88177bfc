#pragma once
// Command-line and INI options, declared once with Boost.Program_options.
//
// Keys are the same in a config file and on the command line: `[retrain] epochs = 5` in a file is
// `--retrain.epochs 5`. Precedence: built-in default < config file < command line.
#include <boost/program_options.hpp>
#include <functional>
#include <string>
#include <vector>

namespace jcas {

namespace po = boost::program_options;

struct ParsedOptions {
  po::variables_map values;
  bool help = false;  // --help was given; the usage has been printed
};

// Parses `args` (everything after the command name) against `desc` plus the common options
// `--help` and `--config FILE`. Unknown options, bad values, a missing config file, or an unknown
// key in a section this command reads become a UserError naming the option or file.
// `positional` names options that may be given without their flag, in order.
// `file_section`, for commands whose options have plain names (`--source-train`): a config file's
// `[file_section] source_train = 80` sets `--source-train`, in the underscore style of the
// pipeline's configs.
// `implied_config`, when given and there is no --config: the config file the parsed command line
// implies (e.g. the one stored in its work directory); read if it exists.
ParsedOptions parse_options(const std::string& command, const std::string& summary,
                            const po::options_description& desc, const std::vector<std::string>& args,
                            const std::vector<std::string>& positional = {}, const std::string& file_section = "",
                            const std::function<std::string(const po::variables_map&)>& implied_config = {});

// Adds `--threads N` (default 0: the CPUs the process may use) and applies it to LibTorch's intra-op pool.
void add_threads_option(po::options_description& desc);
void apply_threads_option(const po::variables_map& vm);
// The CPUs this process may use: OMP_NUM_THREADS if set, else the CPU affinity mask, capped by a
// cgroup CPU quota (containers, Slurm).
int available_cpus();
// LibTorch's and OpenCV's thread count; 0 = available_cpus().
void set_thread_count(int threads);

[[noreturn]] void throw_missing_option(const std::string& key);

// Reads a required option, turning a missing one into a UserError naming it.
template <typename T>
T require(const po::variables_map& vm, const std::string& key) {
  if (!vm.count(key)) throw_missing_option(key);
  return vm[key].as<T>();
}
// "a, b,,c" -> {"a", "b", "c"}: items trimmed of blanks, empty ones dropped.
std::vector<std::string> split_list(const std::string& text, char separator = ',');

// "0.7, 0.1,0.2" -> {0.7, 0.1, 0.2}; UserError naming --`option` on an item that is not a number
// (an empty one included).
std::vector<double> parse_number_list(const std::string& text, const std::string& option);

// "HxW" -> {H, W}; throws UserError naming `option` on anything else.
std::pair<int, int> parse_size(const std::string& text, const std::string& option);

}  // namespace jcas
