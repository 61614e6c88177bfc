#include <fmt/format.h>

#include <chrono>

#include "adapters/foundation/error.h"
#include "adapters/foundation/log.h"
#include "adapters/foundation/option_binder.h"
#include "adapters/foundation/options.h"
#include "data/synthetic_endoscopy.h"
#include "pipeline/execution/run_options.h"
#include "tools/jcas/commands.h"

namespace jcas::commands {

// Options are read from the command line (`--seed 3`) and from a config file's [synth] section
// (`seed = 3`, i.e. the key synth.seed); a command-line value beats the file.
int synth(const Args& args) {
  SynthOptions o;
  int64_t seed = static_cast<int64_t>(o.seed);
  std::string panel;
  OptionBinder binder;
  binder.bind("out", &o.out, "output folder (source/ and target/ are written inside)");
  binder.bind("seed", &seed, "random seed");
  o.bind(binder);
  binder.bind("panel", &panel, "also write a PNG panel of examples with coloured labels (empty: none)");
  po::options_description desc("synth (INI: [synth])");
  declare_options(binder.bindings(), desc);
  add_threads_option(desc);
  auto parsed = parse_options("synth", "Generate the embedded synthetic endoscopy data (source and target domains).",
                              desc, args, {}, "synth");
  if (parsed.help) return 0;
  apply_threads_option(parsed.values);
  if (parsed.values["out"].defaulted()) throw_missing_option("out");
  resolve_options(binder.bindings(), parsed.values).apply(binder.bindings());
  check_seed(seed);
  o.seed = static_cast<uint64_t>(seed);
  const auto start = std::chrono::steady_clock::now();
  generate_synthetic_dataset(o);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log::info("synth: wrote {}/source ({}+{}+{}) and {}/target ({}+{}+{}) at {}x{}, seed {}, shift {}, in {:.1f} s",
            o.out, o.source_train, o.source_val, o.source_test, o.out, o.target_train, o.target_val, o.target_test,
            o.height, o.width, o.seed, o.shift, secs);
  if (!panel.empty()) {
    write_synthetic_panel(o.out, panel);
    log::info("synth: panel written to {}", panel);
  }
  return 0;
}

}  // namespace jcas::commands
