#include "adapters/io/segmentation_dataset.h"
#include "data/label_noise.h"
#include "adapters/foundation/error.h"
#include "adapters/foundation/log.h"
#include "adapters/foundation/options.h"
#include "tools/jcas/commands.h"

namespace jcas::commands {


// Options come from the command line (`--rate 0.3`) or a config file's [noise] section
// (`rate = 0.3`, the key noise.rate); a command-line value beats the file.
int noise(const Args& args) {
  const NoiseDatasetOptions d;
  po::options_description cli("noise");
  cli.add_options()("data", po::value<std::string>(), "dataset root (img/, label/, <split>.txt, info.json)")(
      "split", po::value<std::string>(), "list file to corrupt (default train)")(
      "kind", po::value<std::string>(), "ellipse | symmetric | asymmetric | dilate | erode")(
      "rate", po::value<double>(), "noise rate in [0, 1] (flip probability; ellipse jitter; dilate/erode radius)")(
      "seed", po::value<uint64_t>(), "random seed (default 1)")(
      "unit", po::value<std::string>(), "region | pixel: what symmetric/asymmetric flips (default region)")(
      "label-dir", po::value<std::string>(), "clean label folder inside the dataset (default label)")(
      "out", po::value<std::string>(), "folder for the noisy labels (replaced when complete)");
  auto parsed = parse_options("noise", "Write noisy copies of a split's clean labels (synthetic label noise).", cli, args, {}, "noise");
  if (parsed.help) return 0;
  const auto& vm = parsed.values;
  auto get = [&](const std::string& key, auto fallback) {
    using T = decltype(fallback);
    return vm.count(key) ? vm[key].as<T>() : fallback;
  };
  auto need = [&](const std::string& key) {
    if (!vm.count(key)) throw_missing_option(key);
  };
  for (const char* key : {"data", "kind", "rate", "out"}) need(key);
  NoiseDatasetOptions o;
  o.data = get("data", std::string());
  o.split = get("split", d.split);
  o.label_dir = get("label-dir", d.label_dir);
  o.out = get("out", std::string());
  o.noise.kind = parse_noise_kind(get("kind", std::string()));
  o.noise.rate = get("rate", 0.0);
  o.noise.seed = get("seed", d.noise.seed);
  o.noise.unit = parse_noise_unit(get("unit", to_string(d.noise.unit)));
  if (!(o.noise.rate >= 0.0 && o.noise.rate <= 1.0))
    throw UserError(fmt::format("--rate must be in [0, 1], got {}", o.noise.rate));
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
