// `jcas labels stats`: how noisy a folder of labels is against a split's clean labels.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>

#include "adapters/io/segmentation_dataset.h"
#include "adapters/foundation/error.h"
#include "adapters/foundation/options.h"
#include "adapters/foundation/progress.h"
#include "pipeline/metrics/label_noise_stats.h"
#include "tools/jcas/commands.h"

namespace jcas::commands {
namespace {

namespace fs = std::filesystem;

struct ImageLine {
  std::string name;
  LabelNoiseReport report;
};

// A noisy label PNG, validated like the clean ones; every problem names the file.
cv::Mat read_noisy_label(const std::string& path, const cv::Size& size, int k) {
  cv::Mat label = read_label_file(path, k, "noisy label");
  if (label.size() != size)
    throw UserError(fmt::format("noisy label file '{}' is {}x{} but the clean label is {}x{} (HxW)", path, label.rows,
                                label.cols, size.height, size.width));
  return label;
}

nlohmann::json json_matrix(const torch::Tensor& t) {
  nlohmann::json rows = nlohmann::json::array();
  auto a = t.to(torch::kFloat64).contiguous();
  for (int64_t i = 0; i < a.size(0); ++i)
    rows.push_back(std::vector<double>(a[i].data_ptr<double>(), a[i].data_ptr<double>() + a.size(1)));
  return rows;
}

void print_json(const LabelNoiseReport& r, const std::vector<std::string>& class_names, const std::vector<ImageLine>& lines,
                bool per_image) {
  nlohmann::json out = {{"num_images", r.images},
                        {"num_classes", class_names.size()},
                        {"classes", class_names},
                        {"pixels", r.pixels},
                        {"flipped_pixels", r.flipped_pixels},
                        {"pairs", r.pairs},
                        {"flipped_pairs", r.flipped_pairs},
                        {"class_noise_rate", r.class_noise_rate},
                        {"affinity_noise_rate", r.affinity_noise_rate},
                        {"class_ntm", json_matrix(r.class_ntm)},
                        {"affinity_ntm", json_matrix(r.affinity_ntm)},
                        {"class_dist_clean", r.class_dist_clean},
                        {"class_dist_noisy", r.class_dist_noisy}};
  if (per_image) {
    nlohmann::json items = nlohmann::json::array();
    for (const auto& l : lines)
      items.push_back({{"name", l.name},
                       {"pixels", l.report.pixels},
                       {"class_noise_rate", l.report.class_noise_rate},
                       {"affinity_noise_rate", l.report.affinity_noise_rate}});
    out["per_image"] = items;
  }
  std::printf("%s\n", out.dump().c_str());
}

void print_text(const LabelNoiseReport& r, const std::vector<std::string>& class_names, const std::vector<ImageLine>& lines,
                bool per_image) {
  const int k = static_cast<int>(class_names.size());
  if (per_image) {
    std::printf("%-32s %10s %12s %15s\n", "image", "pixels", "class noise", "affinity noise");
    for (const auto& l : lines)
      std::printf("%-32s %10lld %11.2f%% %14.2f%%\n", l.name.c_str(), static_cast<long long>(l.report.pixels),
                  100 * l.report.class_noise_rate, 100 * l.report.affinity_noise_rate);
    std::printf("\n");
  }
  std::printf("images: %lld, counted pixels: %lld (both labels not 255)\n", static_cast<long long>(r.images),
              static_cast<long long>(r.pixels));
  std::printf("class noise rate:    %.2f %%  (%lld flipped pixels)\n", 100 * r.class_noise_rate,
              static_cast<long long>(r.flipped_pixels));
  std::printf("affinity noise rate: %.2f %%  (%lld of %lld ordered pixel pairs)\n\n", 100 * r.affinity_noise_rate,
              static_cast<long long>(r.flipped_pairs), static_cast<long long>(r.pairs));
  std::printf("class NTM T_C (rows clean, columns noisy):\n%-12s", "");
  for (const auto& n : class_names) std::printf(" %10.10s", n.c_str());
  std::printf("\n");
  auto t = r.class_ntm.to(torch::kFloat64);
  for (int i = 0; i < k; ++i) {
    std::printf("%-12.12s", class_names[i].c_str());
    for (int j = 0; j < k; ++j) std::printf(" %10.4f", t[i][j].item<double>());
    std::printf("\n");
  }
  auto a = r.affinity_ntm.to(torch::kFloat64);
  std::printf("\naffinity NTM T_A (rows clean pair, columns noisy pair):\n%-12s %10s %10s\n", "", "dissimilar", "similar");
  std::printf("%-12s %10.4f %10.4f\n%-12s %10.4f %10.4f\n\n", "dissimilar", a[0][0].item<double>(),
              a[0][1].item<double>(), "similar", a[1][0].item<double>(), a[1][1].item<double>());
  std::printf("class distribution:\n%-12s %10s %10s\n", "", "clean", "noisy");
  for (int i = 0; i < k; ++i)
    std::printf("%-12.12s %10.4f %10.4f\n", class_names[i].c_str(), r.class_dist_clean[i], r.class_dist_noisy[i]);
}

int labels_stats(const Args& args) {
  po::options_description desc("labels stats");
  desc.add_options()("data", po::value<std::string>(), "dataset root (img/, label/, <split>.txt, info.json)")(
      "split", po::value<std::string>()->default_value("train"), "list file naming the images")(
      "noisy", po::value<std::string>(), "folder of noisy label PNGs named like the clean ones "
                                         "(a path, or a folder inside the dataset root)")(
      "label-dir", po::value<std::string>()->default_value("label"), "clean label folder inside the dataset")(
      "image-ext", po::value<std::string>()->default_value("png"), "image file extension of the dataset")(
      "label-ext", po::value<std::string>()->default_value("png"), "clean label file extension")(
      "per-image", po::bool_switch(), "also list every image's noise rates")(
      "json", po::bool_switch(), "print one JSON object on stdout instead of tables");
  add_threads_option(desc);
  auto parsed = parse_options(
      "labels stats",
      "Noise statistics of a folder of labels against a split's clean labels: class and affinity noise rates, "
      "empirical class and affinity NTMs, class distributions. Counted over pixels where both labels are not 255; "
      "pairs are ordered pixel pairs within an image, self-pairs included.",
      desc, args);
  if (parsed.help) return 0;
  apply_threads_option(parsed.values);
  const auto& vm = parsed.values;
  const auto root = require<std::string>(vm, "data");
  const auto split = vm["split"].as<std::string>();
  const auto label_dir = vm["label-dir"].as<std::string>();
  auto noisy_dir = require<std::string>(vm, "noisy");
  if (!fs::is_directory(noisy_dir) && fs::is_directory(fs::path(root) / noisy_dir))
    noisy_dir = (fs::path(root) / noisy_dir).string();
  if (!fs::is_directory(noisy_dir))
    throw UserError(fmt::format("--noisy: folder '{}' does not exist (nor inside --data '{}')", noisy_dir, root));

  DatasetOptions o;
  o.root = root;
  o.label_dir = label_dir;
  o.image_ext = vm["image-ext"].as<std::string>();
  o.label_ext = vm["label-ext"].as<std::string>();
  SegmentationDataset data(o, split, true);
  if (data.size() == 0) throw UserError(fmt::format("split '{}' of '{}' lists no images", split, root));
  const int k = data.num_classes();
  LabelNoiseStats stats(k);
  std::vector<ImageLine> lines;
  ProgressBar bar("labels stats", static_cast<int64_t>(data.size()), "img");
  for (size_t i = 0; i < data.size(); ++i) {
    cv::Mat clean = data.read_label(i);
    const auto path = sample_file(noisy_dir, data.names()[i]);
    cv::Mat noisy = read_noisy_label(path, clean.size(), k);
    lines.push_back({data.names()[i], stats.add(label_mat_to_tensor(clean), label_mat_to_tensor(noisy))});
    bar.advance();
  }
  bar.finish();
  const auto report = stats.report();
  if (vm["json"].as<bool>())
    print_json(report, data.class_names(), lines, vm["per-image"].as<bool>());
  else
    print_text(report, data.class_names(), lines, vm["per-image"].as<bool>());
  return 0;
}

}  // namespace

int labels(const Args& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::printf("Usage: jcas labels <subcommand> [options]\n\nSubcommands:\n"
                "  stats   noise statistics of noisy labels against clean ones (jcas labels stats --help)\n");
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "stats") return labels_stats({args.begin() + 1, args.end()});
  throw UserError(fmt::format("unknown subcommand '{}' (expected: stats)", args[0]));
}

}  // namespace jcas::commands
