// jcas: source-free domain adaptation of segmentation models with JCAS loss correction.
#include <cstdio>
#include <exception>
#include <fmt/format.h>
#include <csignal>
#include <functional>
#include <string>
#include <vector>

#include "adapters/foundation/allocator.h"
#include "adapters/foundation/child_process.h"
#include "adapters/foundation/error.h"
#include "adapters/foundation/interrupt.h"
#include "jcas_version.h"
#include "tools/jcas/commands.h"

namespace {

struct Command {
  const char* name;
  const char* help;
  std::function<int(const jcas::commands::Args&)> run;
};

// The command table: name, one-line help, function.
const std::vector<Command>& command_table() {
  namespace c = jcas::commands;
  static const std::vector<Command> table = {
      {"run", "run the adaptation pipeline: every stage that is missing or stale", c::run},
      {"stage", "run one pipeline stage (`jcas stage retrain --round 1`)", c::stage},
      {"status", "show which stages of which rounds are done, stale or missing", c::status},
      {"compare", "compare the pseudo labels of the rounds: report, panels, table", c::compare},
      {"ablation", "the paper's ablation and baselines on noisy target labels, over seeds (Markdown table)",
       c::ablation},
      {"benchmark", "the SFDA benchmark: methods x seeds x shift strengths, one `jcas run` each (Markdown + plot)",
       c::benchmark},
      {"inspect", "list a cache file's stage, fingerprint, options and datasets", c::inspect},
      {"select", "rank the models of work directories by a label-free criterion (no target labels) and name one",
       c::select},
      {"export", "write a round's adapted model for PyTorch (TorchScript, or the native network's state_dict)", c::export_model},
      {"predict", "segment a folder of images with the source model or a round's model", c::predict},
      {"options", "print every pipeline option as an INI file (defaults or the values in effect)", c::options},
      {"version", "print the toolkit version", c::version},
      {"ntm", "noise transition matrix tools (`jcas ntm derive-affinity`)", c::ntm},
      {"import", "import a dataset from folders of images and masks (masks to class ids, splits, report)",
       c::import_dataset},
      {"synth", "generate the embedded synthetic endoscopy data", c::synth},
      {"noise", "write noisy copies of clean labels (synthetic label noise)", c::noise},
      {"labels", "label noise statistics against clean labels (`jcas labels stats`)", c::labels},
  };
  return table;
}

void print_usage() {
  std::printf("jcas %s - source-free domain adaptation with joint class-affinity loss correction\n\n", JCAS_VERSION);
  std::printf("Usage: jcas <command> [options]   (jcas <command> --help for its options)\n\nCommands:\n");
  for (const auto& c : command_table()) std::printf("  %-10s %s\n", c.name, c.help);
}

}  // namespace

int main(int argc, char** argv) {
  jcas::set_openmp_waiting(argv);  // first: it may start this program again
  jcas::keep_freed_memory_for_reuse();
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_usage();
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "--version") {
    std::printf("jcas %s\n", JCAS_VERSION);
    return 0;
  }
  const auto& table = command_table();
  auto it = std::find_if(table.begin(), table.end(), [&](const Command& c) { return args[0] == c.name; });
  if (it == table.end()) {
    std::fprintf(stderr, "jcas: unknown command '%s' (see jcas --help)\n", args[0].c_str());
    return 2;
  }
  jcas::install_interrupt_handler();
  try {
    return it->run({args.begin() + 1, args.end()});
  } catch (const jcas::UserError& e) {
    std::fprintf(stderr, "jcas %s: error: %s\n", it->name, e.what());
    return 2;
  } catch (const jcas::Interrupted&) {
    std::fprintf(stderr, "jcas %s: interrupted; completed results are cached, run again to continue\n", it->name);
    return 128 + (jcas::interrupt_signal() ? jcas::interrupt_signal() : SIGINT);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "jcas %s: internal error: %s\n", it->name, e.what());
    return 1;
  }
}
