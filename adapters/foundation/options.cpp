#include "adapters/foundation/options.h"

#include <torch/torch.h>
#include <opencv2/core.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <dlfcn.h>
#include <sched.h>

#include <cmath>
#include <cstdlib>
#include <thread>

#include "adapters/foundation/error.h"
#include "adapters/foundation/option_binder.h"

namespace jcas {

[[noreturn]] void throw_missing_option(const std::string& key) {
  throw UserError(fmt::format("missing required option --{}", key));
}

namespace {

std::set<std::string> sections_of(const po::options_description& desc) {
  std::set<std::string> sections;
  for (const auto& opt : desc.options()) {
    auto name = opt->long_name();
    auto dot = name.find('.');
    if (dot != std::string::npos) sections.insert(name.substr(0, dot));
  }
  return sections;
}

// `section.some_key` -> `some-key` when that is one of the command's plain options.
bool map_file_key(po::option& opt, const std::string& file_section, const po::options_description& desc) {
  const std::string prefix = file_section + ".";
  if (file_section.empty() || opt.string_key.rfind(prefix, 0) != 0) return false;
  std::string name = opt.string_key.substr(prefix.size());
  std::replace(name.begin(), name.end(), '_', '-');
  if (!desc.find_nothrow(name, false)) return false;
  opt.string_key = name;
  opt.unregistered = false;
  return true;
}

void read_config_file(const std::string& path, const po::options_description& desc, const std::string& file_section,
                      po::variables_map& vm) {
  if (!std::filesystem::is_regular_file(path)) throw UserError(fmt::format("--config: no such file '{}'", path));
  std::ifstream in(path);
  if (!in) throw UserError(fmt::format("--config: cannot read '{}'", path));
  po::parsed_options parsed = po::parse_config_file(in, desc, /*allow_unregistered=*/true);
  // A key in a section this command reads must be one of its options; other sections belong to
  // other commands that share the file (e.g. [retrain] in a pipeline config read by `synth`). The
  // top-level keys are the pipeline's: checked by the commands that read the pipeline's options
  // (those declaring sectioned keys, without a section of their own), foreign to the others.
  auto sections = sections_of(desc);
  const bool reads_top_level = file_section.empty() && !sections.empty();
  if (!file_section.empty()) sections.insert(file_section);
  for (auto& opt : parsed.options) {
    if (!opt.unregistered || map_file_key(opt, file_section, desc)) continue;
    auto dot = opt.string_key.find('.');
    std::string section = dot == std::string::npos ? "" : opt.string_key.substr(0, dot);
    const bool foreign = section.empty() ? !reads_top_level : sections.count(section) == 0;
    if (!foreign) throw UserError(fmt::format("{}: unknown option '{}'", path, opt.string_key));
  }
  po::store(parsed, vm);
}

}  // namespace

ParsedOptions parse_options(const std::string& command, const std::string& summary,
                            const po::options_description& desc, const std::vector<std::string>& args,
                            const std::vector<std::string>& positional, const std::string& file_section,
                            const std::function<std::string(const po::variables_map&)>& implied_config) {
  po::options_description common("Common options");
  common.add_options()("help,h", "show this help")("config", po::value<std::string>(),
                                                    "INI file with options ([section] key = value)");
  po::options_description all;
  all.add(desc).add(common);

  // A positional option takes one token; the last one takes every remaining token when it is a list.
  po::positional_options_description pos;
  for (size_t i = 0; i < positional.size(); ++i) {
    const po::option_description* o = all.find_nothrow(positional[i], false);
    const bool list = i + 1 == positional.size() && o && o->semantic()->max_tokens() > 1;
    pos.add(positional[i].c_str(), list ? -1 : 1);
  }

  ParsedOptions out;
  try {
    po::store(po::command_line_parser(args).options(all).positional(pos).run(), out.values);
    if (out.values.count("help")) {
      std::cout << "Usage: jcas " << command << " [options]\n" << summary << "\n\n" << all << "\n";
      out.help = true;
      return out;
    }
    if (out.values.count("config")) {
      read_config_file(out.values["config"].as<std::string>(), desc, file_section, out.values);
    } else if (implied_config) {
      const std::string implied = implied_config(out.values);
      if (std::filesystem::is_regular_file(implied)) read_config_file(implied, desc, file_section, out.values);
    }
    po::notify(out.values);
  } catch (const po::error& e) {
    throw UserError(fmt::format("jcas {}: {} (see jcas {} --help)", command, e.what(), command));
  }
  return out;
}

void add_threads_option(po::options_description& desc) {
  desc.add_options()("threads", po::value<int>()->default_value(0),
                     "intra-op threads for LibTorch (0 = the CPUs this process may use: OMP_NUM_THREADS, affinity, cgroup quota)");
}

void apply_threads_option(const po::variables_map& vm) {
  set_thread_count(vm.count("threads") ? vm["threads"].as<int>() : 0);
}

namespace {

// CPUs allowed by the cgroup CPU quota (v2 cpu.max, v1 cfs quota), 0 when there is none.
int cgroup_cpu_limit() {
  double quota = -1, period = 0;
  if (std::ifstream v2{"/sys/fs/cgroup/cpu.max"}) {
    std::string q;
    v2 >> q >> period;
    if (q != "max" && !q.empty()) quota = std::atof(q.c_str());
  } else {
    std::ifstream q1{"/sys/fs/cgroup/cpu/cpu.cfs_quota_us"}, p1{"/sys/fs/cgroup/cpu/cpu.cfs_period_us"};
    if (q1 && p1) q1 >> quota, p1 >> period;
  }
  if (quota <= 0 || period <= 0) return 0;
  return std::max(1, static_cast<int>(std::ceil(quota / period)));
}

}  // namespace

int available_cpus() {
  if (const char* omp = std::getenv("OMP_NUM_THREADS")) {
    const int n = std::atoi(omp);
    if (n > 0) return n;
  }
  int cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  cpu_set_t mask;
  if (sched_getaffinity(0, sizeof mask, &mask) == 0) cpus = std::max(1, CPU_COUNT(&mask));
  const int quota = cgroup_cpu_limit();
  return quota > 0 ? std::min(cpus, quota) : cpus;
}

void set_thread_count(int threads) {
  if (threads < 0) throw UserError(fmt::format("--threads must be >= 0, got {}", threads));
  if (threads == 0) threads = available_cpus();
  torch::set_num_threads(threads);
  cv::setNumThreads(threads);
  // LibTorch parallelises around its BLAS calls with its own (OpenMP) threads; OpenBLAS's pthreads
  // on top of them spin against each other: a JCAS step ran 1.4x slower with OpenBLAS threaded
  // (jcas-bench-step, README). One BLAS thread inside each of LibTorch's.
  using SetThreads = void (*)(int);
  if (auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) set(1);
}

namespace {

std::string trim_blanks(const std::string& s) {
  const auto b = s.find_first_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

}  // namespace

std::vector<std::string> split_list(const std::string& text, char separator) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, separator);)
    if (std::string t = trim_blanks(item); !t.empty()) out.push_back(std::move(t));
  return out;
}

std::vector<double> parse_number_list(const std::string& text, const std::string& option) {
  std::vector<double> out;
  std::vector<std::string> items;  // empty ones too: "1,,2" is a mistake, not two numbers
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) items.push_back(trim_blanks(item));
  if (!text.empty() && text.back() == ',') items.emplace_back();  // getline yields no trailing empty item
  for (const auto& item : items) {
    size_t used = 0;
    double v = NAN;
    try {
      v = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || !std::isfinite(v))
      throw UserError(fmt::format("--{}: expected numbers, got '{}'", option, item));
    out.push_back(v);
  }
  return out;
}

std::pair<int, int> parse_size(const std::string& text, const std::string& option) {
  ImageSize s = parse_image_size(text, option);
  return {s.height, s.width};
}

}  // namespace jcas
