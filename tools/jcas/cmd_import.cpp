// `jcas import`: a dataset from the folders it ships as (images, masks) into jcas's layout.
#include <fmt/format.h>

#include <chrono>

#include "adapters/foundation/log.h"
#include "adapters/foundation/option_binder.h"
#include "adapters/foundation/options.h"
#include "data/dataset_import.h"
#include "tools/jcas/commands.h"

namespace jcas::commands {

// Options from the command line or a config file's [import] section (`mask_encoding = rgb`).
int import_dataset(const Args& args) {
  ImportOptions o;
  OptionBinder binder;
  o.bind(binder);
  po::options_description desc("import (INI: [import])");
  declare_options(binder.bindings(), desc);
  desc.add_options()("overwrite", po::bool_switch(), "replace an existing --out folder");
  add_threads_option(desc);
  auto parsed = parse_options(
      "import",
      "Import a dataset from a folder of images and a folder of masks (paired by path without extension) into "
      "jcas's layout: masks become class ids, pairs are divided into splits, and OUT/import.json reports what was "
      "done. Examples (README, \"Real data\"):\n"
      "  jcas import --images Kvasir-SEG/images --masks Kvasir-SEG/masks --out data/kvasir --classes background,polyp\n"
      "  jcas import --images CVC-ClinicDB/Original --masks 'CVC-ClinicDB/Ground Truth' --out data/clinicdb \\\n"
      "              --classes background,polyp --split ranges --ranges test=1-151,val=152-205,train=206-612",
      desc, args, {}, "import");
  if (parsed.help) return 0;
  apply_threads_option(parsed.values);
  resolve_options(binder.bindings(), parsed.values).apply(binder.bindings());
  o.overwrite = parsed.values["overwrite"].as<bool>();
  const auto start = std::chrono::steady_clock::now();
  const ImportReport r = jcas::import_dataset(o);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<std::string> splits, shares;
  for (const auto& [name, n] : r.split_sizes)
    splits.push_back(r.split_groups.count(name) ? fmt::format("{} {} ({} groups)", name, n, r.split_groups.at(name))
                                                : fmt::format("{} {}", name, n));
  for (size_t c = 0; c < r.class_share.size(); ++c)
    shares.push_back(fmt::format("{} {:.1f} %", r.class_names[c], 100 * r.class_share[c]));
  log::info("import: {} pair(s) into {} in {:.1f} s; splits: {}", r.pairs, o.out, secs, fmt::join(splits, ", "));
  if (!shares.empty()) log::info("import: pixels per class: {}", fmt::join(shares, ", "));
  if (o.encoding == MaskEncoding::binary && !o.masks.empty())
    log::info("import: {:.2f} % of mask pixels lie within 64 grey levels of the threshold {}", 100 * r.ambiguous_share,
              o.threshold);
  if (r.ignored_pixels) log::info("import: {} pixel(s) of value 255 kept as ignore", r.ignored_pixels);
  if (!r.skipped.empty())
    log::info("import: {} file(s) that are not images were skipped, e.g. {}", r.skipped.size(), r.skipped.front());
  return 0;
}

}  // namespace jcas::commands
