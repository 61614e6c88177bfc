#include <chrono>

#include "data/synthetic_endoscopy.h"
#include "adapters/foundation/log.h"
#include "adapters/foundation/options.h"
#include "tools/jcas/commands.h"

namespace jcas::commands {


// Options are read from the command line (`--seed 3`) and from a config file's [synth] section
// (`seed = 3`, i.e. the key synth.seed); a command-line value beats the file.
int synth(const Args& args) {
  const SynthOptions d;
  po::options_description cli("synth");
  cli.add_options()("out", po::value<std::string>(), "output folder (source/ and target/ are written inside)")(
      "seed", po::value<uint64_t>(), fmt::format("random seed (default {})", d.seed).c_str())(
      "source-train", po::value<int>(), fmt::format("source training images (default {})", d.source_train).c_str())(
      "source-val", po::value<int>(), fmt::format("source validation images (default {})", d.source_val).c_str())(
      "source-test", po::value<int>(), fmt::format("source test images (default {})", d.source_test).c_str())(
      "target-train", po::value<int>(), fmt::format("target training images (default {})", d.target_train).c_str())(
      "target-val", po::value<int>(), fmt::format("target validation images (default {})", d.target_val).c_str())(
      "target-test", po::value<int>(), fmt::format("target test images (default {})", d.target_test).c_str())(
      "size", po::value<std::string>(), fmt::format("image size HxW (default {}x{})", d.height, d.width).c_str())(
      "shift", po::value<double>(),
      fmt::format("strength of the target's domain shift, {}..{}: 0 = the source style, 1 = the default target, "
                  "1.5 = a stronger shift (default {})", kMinSyntheticShift, kMaxSyntheticShift, d.shift).c_str())(
      "panel", po::value<std::string>(), "also write a PNG panel of examples with coloured labels");
  auto parsed = parse_options("synth", "Generate the embedded synthetic endoscopy data (source and target domains).", cli, args, {}, "synth");
  if (parsed.help) return 0;
  const auto& vm = parsed.values;
  auto get = [&](const std::string& key, auto fallback) {
    using T = decltype(fallback);
    return vm.count(key) ? vm[key].as<T>() : fallback;
  };
  SynthOptions o;
  o.out = get("out", std::string());
  if (o.out.empty()) throw_missing_option("out");
  o.seed = get("seed", d.seed);
  o.source_train = get("source-train", d.source_train);
  o.source_val = get("source-val", d.source_val);
  o.source_test = get("source-test", d.source_test);
  o.target_train = get("target-train", d.target_train);
  o.target_val = get("target-val", d.target_val);
  o.target_test = get("target-test", d.target_test);
  const std::string size = get("size", fmt::format("{}x{}", d.height, d.width));
  std::tie(o.height, o.width) = parse_size(size, "size");
  o.shift = get("shift", d.shift);
  const auto start = std::chrono::steady_clock::now();
  generate_synthetic_dataset(o);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log::info("synth: wrote {}/source ({}+{}+{}) and {}/target ({}+{}+{}) at {}x{}, seed {}, shift {}, in {:.1f} s",
            o.out, o.source_train, o.source_val, o.source_test, o.out, o.target_train, o.target_val, o.target_test,
            o.height, o.width, o.seed, o.shift, secs);
  const std::string panel = get("panel", std::string());
  if (!panel.empty()) {
    write_synthetic_panel(o.out, panel);
    log::info("synth: panel written to {}", panel);
  }
  return 0;
}

}  // namespace jcas::commands
