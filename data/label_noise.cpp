#include "data/label_noise.h"
#include "data/portable_rng.h"

#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "adapters/foundation/temporary_path.h"
#include "adapters/io/file_writes.h"
#include "adapters/io/segmentation_dataset.h"
#include "adapters/foundation/error.h"
#include "adapters/foundation/interrupt.h"
#include "adapters/foundation/progress.h"

namespace fs = std::filesystem;

namespace jcas {

namespace {

// A uniformly drawn class other than c among 0..k-1.
int other_class(PortableRng& rng, int c, int k) {
  int v = rng.below(k - 1);
  return v >= c ? v + 1 : v;
}

int next_part(int c, int k) { return c % (k - 1) + 1; }

// Calls fn(class, component mask) for every 8-connected region of every instrument class, in a
// fixed order (class, then component id in raster order).
template <typename Fn>
void for_each_region(const cv::Mat& clean, int k, Fn fn) {
  cv::Mat comps;
  for (int c = 1; c < k; ++c) {
    cv::Mat mask = clean == c;
    if (!cv::countNonZero(mask)) continue;
    const int n = cv::connectedComponents(mask, comps, 8, CV_32S);
    for (int id = 1; id < n; ++id) fn(c, cv::Mat(comps == id));
  }
}

cv::Mat ellipse_noise(const cv::Mat& clean, const NoiseOptions& o, PortableRng& rng, NoiseStats* stats) {
  struct Shape {
    int cls;
    cv::RotatedRect ellipse;
    cv::Mat keep;  // region kept as it is (too small to fit)
  };
  std::vector<Shape> shapes;
  for_each_region(clean, o.num_classes, [&](int c, const cv::Mat& region) {
    if (stats) ++stats->regions;
    std::vector<std::vector<cv::Point>> contours;
    cv::findContours(region.clone(), contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_NONE);
    const auto largest = std::max_element(contours.begin(), contours.end(),
                                          [](const auto& a, const auto& b) { return a.size() < b.size(); });
    if (largest == contours.end() || largest->size() < 5) {
      shapes.push_back({c, {}, region});
      return;
    }
    cv::RotatedRect e = cv::fitEllipse(*largest);
    const double r = o.rate, minor = std::min(e.size.width, e.size.height);
    e.size.width = static_cast<float>(e.size.width * (1.0 + r * rng.uni(-1, 1)));
    e.size.height = static_cast<float>(e.size.height * (1.0 + r * rng.uni(-1, 1)));
    e.angle = static_cast<float>(e.angle + r * rng.uni(-45, 45));
    e.center.x = static_cast<float>(e.center.x + r * rng.uni(-0.5, 0.5) * minor);
    e.center.y = static_cast<float>(e.center.y + r * rng.uni(-0.5, 0.5) * minor);
    shapes.push_back({c, e, {}});
  });
  cv::Mat out = clean.clone();
  out.setTo(0, (clean > 0) & (clean != 255));
  for (const auto& s : shapes) {
    if (!s.keep.empty()) {
      out.setTo(s.cls, s.keep);
    } else if (s.ellipse.size.width > 0 && s.ellipse.size.height > 0) {
      cv::ellipse(out, s.ellipse, cv::Scalar(s.cls), cv::FILLED, cv::LINE_8);
    }
  }
  out.setTo(255, clean == 255);
  return out;
}

cv::Mat flip_noise(const cv::Mat& clean, const NoiseOptions& o, PortableRng& rng, NoiseStats* stats) {
  const int k = o.num_classes;
  const bool symmetric = o.kind == NoiseKind::symmetric;
  cv::Mat out = clean.clone();
  if (o.unit == NoiseUnit::pixel) {
    for (int y = 0; y < out.rows; ++y) {
      uint8_t* row = out.ptr<uint8_t>(y);
      for (int x = 0; x < out.cols; ++x) {
        const int c = row[x];
        if (c == 255 || (!symmetric && c == 0)) continue;
        if (rng.uni() < o.rate) row[x] = static_cast<uint8_t>(symmetric ? other_class(rng, c, k) : next_part(c, k));
      }
    }
    return out;
  }
  for_each_region(clean, k, [&](int c, const cv::Mat& region) {
    if (stats) ++stats->regions;
    if (rng.uni() >= o.rate) return;
    out.setTo(symmetric ? other_class(rng, c, k) : next_part(c, k), region);
    if (stats) ++stats->flipped_regions;
  });
  return out;
}

cv::Mat morphology_noise(const cv::Mat& clean, const NoiseOptions& o) {
  const int r = morphology_radius(o.rate, clean.rows, clean.cols);
  cv::Mat out = clean.clone();
  if (r == 0) return out;
  const cv::Mat kernel = cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(2 * r + 1, 2 * r + 1));
  for (int c = 1; c < o.num_classes; ++c) {
    cv::Mat mask = clean == c, changed;
    if (!cv::countNonZero(mask)) continue;
    if (o.kind == NoiseKind::dilate) {
      cv::dilate(mask, changed, kernel);
      out.setTo(c, changed & (clean == 0));
    } else {
      cv::erode(mask, changed, kernel);  // default border value: the border does not erode
      out.setTo(0, mask & ~changed);
    }
  }
  return out;
}

}  // namespace

NoiseKind parse_noise_kind(const std::string& t) {
  if (t == "ellipse") return NoiseKind::ellipse;
  if (t == "symmetric") return NoiseKind::symmetric;
  if (t == "asymmetric") return NoiseKind::asymmetric;
  if (t == "dilate") return NoiseKind::dilate;
  if (t == "erode") return NoiseKind::erode;
  throw UserError(fmt::format("--kind: unknown noise kind '{}' (ellipse, symmetric, asymmetric, dilate, erode)", t));
}

void NoiseDatasetOptions::bind(OptionBinder& b) {
  b.bind("data", &data, "dataset root (img/, label/, <split>.txt, info.json)");
  b.bind("split", &split, "list file to corrupt");
  b.bind("label-dir", &label_dir, "clean label folder inside the dataset");
  b.bind("out", &out, "folder for the noisy labels (replaced when complete)");
  b.bind(
      "kind", "ellipse | symmetric | asymmetric | dilate | erode", [this] { return to_string(noise.kind); },
      [this](const std::string& t) { noise.kind = parse_noise_kind(t); });
  b.bind("rate", &noise.rate, "noise rate in [0, 1] (flip probability; ellipse jitter; dilate/erode radius)");
  b.bind(
      "seed", "random seed", [this] { return std::to_string(noise.seed); },
      [this](const std::string& t) {
        if (t.empty() || t.find_first_not_of("0123456789") != std::string::npos)
          throw UserError(fmt::format("--seed: expected a non-negative integer, got '{}'", t));
        noise.seed = std::stoull(t);
      });
  b.bind(
      "unit", "region | pixel: what symmetric/asymmetric flips", [this] { return to_string(noise.unit); },
      [this](const std::string& t) { noise.unit = parse_noise_unit(t); });
}

void NoiseDatasetOptions::check() const {
  if (!(noise.rate >= 0.0 && noise.rate <= 1.0))
    throw UserError(fmt::format("--rate must be in [0, 1], got {}", noise.rate));
}

NoiseUnit parse_noise_unit(const std::string& t) {
  if (t == "region") return NoiseUnit::region;
  if (t == "pixel") return NoiseUnit::pixel;
  throw UserError(fmt::format("--unit: unknown unit '{}' (region, pixel)", t));
}

std::string to_string(NoiseKind k) {
  switch (k) {
    case NoiseKind::ellipse: return "ellipse";
    case NoiseKind::symmetric: return "symmetric";
    case NoiseKind::asymmetric: return "asymmetric";
    case NoiseKind::dilate: return "dilate";
    case NoiseKind::erode: return "erode";
  }
  return "?";
}

std::string to_string(NoiseUnit u) { return u == NoiseUnit::region ? "region" : "pixel"; }

uint64_t label_noise_stream(uint64_t seed, const std::string& name) {
  uint64_t h = splitmix64(seed ^ 0x6E6F697365ull);  // "noise"
  for (unsigned char c : name) h = splitmix64(h ^ c);
  return h;
}

int morphology_radius(double rate, int height, int width) {
  return static_cast<int>(std::lround(rate * std::min(height, width) / 10.0));
}

cv::Mat apply_label_noise(const cv::Mat& clean, const NoiseOptions& o, uint64_t stream, NoiseStats* stats) {
  if (clean.type() != CV_8UC1) throw std::invalid_argument("apply_label_noise: expected a CV_8UC1 label");
  if (!(o.rate >= 0.0 && o.rate <= 1.0)) throw UserError(fmt::format("--rate must be in [0, 1], got {}", o.rate));
  if (o.num_classes < 2) throw UserError(fmt::format("label noise needs at least 2 classes, got {}", o.num_classes));
  if (o.kind == NoiseKind::asymmetric && o.num_classes < 3)
    throw UserError("asymmetric noise needs at least two foreground classes");
  PortableRng rng(stream);
  cv::Mat out;
  switch (o.kind) {
    case NoiseKind::ellipse: out = ellipse_noise(clean, o, rng, stats); break;
    case NoiseKind::symmetric:
    case NoiseKind::asymmetric: out = flip_noise(clean, o, rng, stats); break;
    case NoiseKind::dilate:
    case NoiseKind::erode: out = morphology_noise(clean, o); break;
  }
  if (stats) {
    const cv::Mat valid = clean != 255;
    stats->pixels += cv::countNonZero(valid);
    stats->changed_pixels += cv::countNonZero((out != clean) & valid);
  }
  return out;
}

NoiseStats write_noisy_labels(const NoiseDatasetOptions& o) {
  if (o.out.empty()) throw UserError("noise: no output folder given (--out LABEL_DIR)");
  DatasetOptions dopt;
  dopt.root = o.data;
  dopt.label_dir = o.label_dir;
  SegmentationDataset ds(dopt, o.split, /*with_labels=*/true);
  NoiseOptions noise = o.noise;
  noise.num_classes = ds.num_classes();

  // Never overwrite the clean labels or anything that is not a previous noise output.
  fs::path out = fs::absolute(o.out).lexically_normal();
  if (out.filename().empty()) out = out.parent_path();  // "dir/" -> "dir"
  const fs::path clean_dir = fs::absolute(fs::path(o.data) / o.label_dir).lexically_normal();
  std::error_code ec;
  if (fs::exists(out) && (fs::equivalent(out, clean_dir, ec) || fs::equivalent(out, fs::absolute(o.data), ec)))
    throw UserError(fmt::format("noise: --out '{}' is the clean label folder or the dataset root", o.out));
  if (fs::exists(out)) {
    if (!fs::is_directory(out)) throw UserError(fmt::format("noise: --out '{}' exists and is not a folder", o.out));
    for (const auto& e : fs::directory_iterator(out)) {
      const auto name = e.path().filename().string();
      if (!e.is_regular_file() || (e.path().extension() != ".png" && name != "noise.json"))
        throw UserError(fmt::format("noise: --out '{}' holds '{}', which is not a noisy label; refusing to replace it",
                                    o.out, name));
    }
  }
  TemporaryPath partial(out);  // removed if writing stops half-way
  const fs::path& tmp = partial.path();
  fs::create_directories(tmp);

  NoiseStats stats;
  std::unique_ptr<ProgressBar> bar;
  if (o.progress) bar = std::make_unique<ProgressBar>("noise", static_cast<int64_t>(ds.size()), "img");
  for (size_t i = 0; i < ds.size(); ++i) {
    check_interrupted();
    const cv::Mat clean = ds.read_label(i);
    const cv::Mat noisy = apply_label_noise(clean, noise, label_noise_stream(noise.seed, ds.names()[i]), &stats);
    const fs::path file = fs::path(sample_file(tmp.string(), ds.names()[i]));
    write_png(file, noisy);  // creates sub-folders: names may contain them
    if (bar) bar->advance();
  }
  if (bar) bar->finish();
  const nlohmann::json record = {
      {"kind", to_string(noise.kind)}, {"rate", noise.rate}, {"unit", to_string(noise.unit)}, {"seed", noise.seed},
      {"split", o.split}, {"label_dir", o.label_dir}, {"images", ds.size()}, {"pixels", stats.pixels},
      {"changed_pixels", stats.changed_pixels},
      {"pixel_change_rate", stats.pixels ? double(stats.changed_pixels) / stats.pixels : 0.0},
      {"regions", stats.regions}, {"flipped_regions", stats.flipped_regions}};
  std::ofstream json(tmp / "noise.json");
  json << record.dump(2) << "\n";
  json.close();
  if (!json) throw UserError(fmt::format("noise: cannot write '{}'", (tmp / "noise.json").string()));
  partial.commit();
  return stats;
}

}  // namespace jcas
