#include <fmt/format.h>

#include "adapters/foundation/error.h"
#include "adapters/foundation/log.h"
#include "adapters/foundation/option_binder.h"
#include "adapters/foundation/options.h"
#include "adapters/io/segmentation_dataset.h"
#include "data/label_noise.h"
#include "tools/jcas/commands.h"

namespace jcas::commands {

// Options come from the command line (`--rate 0.3`) or a config file's [noise] section
// (`rate = 0.3`, the key noise.rate); a command-line value beats the file.
int noise(const Args& args) {
  NoiseDatasetOptions o;
  OptionBinder binder;
  o.bind(binder);
  po::options_description desc("noise (INI: [noise])");
  declare_options(binder.bindings(), desc);
  add_threads_option(desc);
  auto parsed = parse_options("noise", "Write noisy copies of a split's clean labels (synthetic label noise).", desc,
                              args, {}, "noise");
  if (parsed.help) return 0;
  apply_threads_option(parsed.values);
  // What to corrupt, how and how much are the user's to say: no default stands in for them.
  for (const char* key : {"data", "kind", "rate", "out"})
    if (!parsed.values.count(key) || parsed.values[key].defaulted()) throw_missing_option(key);
  resolve_options(binder.bindings(), parsed.values).apply(binder.bindings());
  o.check();
  const NoiseStats s = write_noisy_labels(o);
  const bool flips = o.noise.kind == NoiseKind::symmetric || o.noise.kind == NoiseKind::asymmetric;
  log::info("noise: {}{} rate {} seed {} on {}/{} -> {}: {:.2f} % of pixels changed{}", to_string(o.noise.kind),
            flips ? " per " + to_string(o.noise.unit) : std::string(), o.noise.rate, o.noise.seed, o.data, o.split, o.out,
            s.pixels ? 100.0 * s.changed_pixels / s.pixels : 0.0,
            flips && o.noise.unit == NoiseUnit::region
                ? fmt::format(", {} of {} regions flipped", s.flipped_regions, s.regions)
                : std::string());
  return 0;
}

}  // namespace jcas::commands
