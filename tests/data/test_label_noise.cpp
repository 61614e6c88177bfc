#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "adapters/io/segmentation_dataset.h"
#include "data/label_noise.h"
#include "data/synthetic_endoscopy.h"
#include "adapters/foundation/error.h"
#include "tests/support/temp_dir.h"

using namespace jcas;
using jcas::testing::TempDir;
namespace fs = std::filesystem;

namespace {

// Clean synthetic label maps with a few ignore pixels.
const std::vector<cv::Mat>& clean_labels() {
  static const std::vector<cv::Mat> labels = [] {
    std::vector<cv::Mat> out;
    for (int i = 0; i < 40; ++i) {
      cv::Mat l = render_synthetic_scene(SynthDomain::source, 1000 + i, 64, 80).label;
      l(cv::Rect(0, 0, 3, 3)).setTo(255);
      out.push_back(l);
    }
    return out;
  }();
  return labels;
}

NoiseOptions noise(NoiseKind kind, double rate, NoiseUnit unit = NoiseUnit::region, uint64_t seed = 7) {
  NoiseOptions o;
  o.kind = kind;
  o.rate = rate;
  o.unit = unit;
  o.seed = seed;
  return o;
}

std::vector<cv::Mat> apply_all(const NoiseOptions& o, NoiseStats* stats = nullptr) {
  std::vector<cv::Mat> out;
  for (size_t i = 0; i < clean_labels().size(); ++i)
    out.push_back(apply_label_noise(clean_labels()[i], o, label_noise_stream(o.seed, std::to_string(i)), stats));
  return out;
}

// Counts the clean instrument regions (8-connected, per class) and those whose pixels all moved
// to one single other class.
std::pair<int, int> count_flipped_regions(const std::vector<cv::Mat>& noisy, bool asymmetric) {
  int regions = 0, flipped = 0;
  for (size_t i = 0; i < noisy.size(); ++i) {
    const cv::Mat& clean = clean_labels()[i];
    for (int c = 1; c < 4; ++c) {
      cv::Mat comps;
      const int n = cv::connectedComponents(clean == c, comps, 8, CV_32S);
      for (int id = 1; id < n; ++id) {
        ++regions;
        const cv::Mat region = comps == id;
        double lo, hi;
        cv::minMaxLoc(noisy[i], &lo, &hi, nullptr, nullptr, region);
        EXPECT_EQ(lo, hi) << "a region must flip as a whole";
        if (lo != c) {
          ++flipped;
          if (asymmetric) EXPECT_EQ(lo, c % 3 + 1);
        }
      }
    }
  }
  return {regions, flipped};
}

}  // namespace

TEST(LabelNoise, ParsesKindsAndUnits) {
  for (auto k : {NoiseKind::ellipse, NoiseKind::symmetric, NoiseKind::asymmetric, NoiseKind::dilate, NoiseKind::erode})
    EXPECT_EQ(parse_noise_kind(to_string(k)), k);
  EXPECT_EQ(parse_noise_unit("pixel"), NoiseUnit::pixel);
  EXPECT_THROW(parse_noise_kind("gaussian"), UserError);
  EXPECT_THROW(parse_noise_unit("image"), UserError);
  EXPECT_THROW(apply_label_noise(clean_labels()[0], noise(NoiseKind::symmetric, 1.5), 1), UserError);
}

TEST(LabelNoise, SymmetricPixelFlipsAtTheRate) {
  NoiseStats stats;
  auto noisy = apply_all(noise(NoiseKind::symmetric, 0.3, NoiseUnit::pixel), &stats);
  int64_t changed = 0, valid = 0;
  std::array<int64_t, 4> bg_to{};
  for (size_t i = 0; i < noisy.size(); ++i) {
    const cv::Mat& clean = clean_labels()[i];
    EXPECT_EQ(cv::countNonZero((noisy[i] == 255) != (clean == 255)), 0) << "ignore pixels must stay";
    valid += cv::countNonZero(clean != 255);
    changed += cv::countNonZero((noisy[i] != clean) & (clean != 255));
    for (int c = 1; c < 4; ++c) bg_to[c] += cv::countNonZero((clean == 0) & (noisy[i] == c));
  }
  EXPECT_NEAR(double(changed) / valid, 0.3, 0.03);
  EXPECT_EQ(stats.changed_pixels, changed);
  EXPECT_EQ(stats.pixels, valid);
  // Uniform over the other classes: background goes to each part about equally often.
  const double total = bg_to[1] + bg_to[2] + bg_to[3];
  for (int c = 1; c < 4; ++c) EXPECT_NEAR(bg_to[c] / total, 1.0 / 3, 0.03) << c;
}

TEST(LabelNoise, SymmetricRegionFlipsAtTheRate) {
  NoiseStats stats;
  auto noisy = apply_all(noise(NoiseKind::symmetric, 0.3), &stats);
  auto [regions, flipped] = count_flipped_regions(noisy, false);
  ASSERT_GT(regions, 150);
  EXPECT_NEAR(double(flipped) / regions, 0.3, 0.08);
  EXPECT_EQ(stats.regions, regions);
  EXPECT_EQ(stats.flipped_regions, flipped);
  // Background pixels are untouched by the region unit.
  for (size_t i = 0; i < noisy.size(); ++i)
    EXPECT_EQ(cv::countNonZero((clean_labels()[i] == 0) & (noisy[i] != 0)), 0);
}

TEST(LabelNoise, AsymmetricPixelFlipsToTheNextPart) {
  auto noisy = apply_all(noise(NoiseKind::asymmetric, 0.3, NoiseUnit::pixel));
  int64_t fg = 0, changed = 0;
  for (size_t i = 0; i < noisy.size(); ++i) {
    const cv::Mat& clean = clean_labels()[i];
    EXPECT_EQ(cv::countNonZero((clean == 0) != (noisy[i] == 0)), 0) << "background is never flipped";
    for (int c = 1; c < 4; ++c) {
      const cv::Mat was = clean == c;
      fg += cv::countNonZero(was);
      changed += cv::countNonZero(was & (noisy[i] != c));
      EXPECT_EQ(cv::countNonZero(was & (noisy[i] != c) & (noisy[i] != c % 3 + 1)), 0);
    }
  }
  EXPECT_NEAR(double(changed) / fg, 0.3, 0.03);
}

TEST(LabelNoise, AsymmetricRegionFlipsAtTheRate) {
  auto noisy = apply_all(noise(NoiseKind::asymmetric, 0.4));
  auto [regions, flipped] = count_flipped_regions(noisy, true);
  EXPECT_NEAR(double(flipped) / regions, 0.4, 0.08);
}

TEST(LabelNoise, EllipseReplacesRegionsWithEllipses) {
  NoiseStats low_stats, high_stats;
  auto fitted = apply_all(noise(NoiseKind::ellipse, 0.0), &low_stats);
  auto jittered = apply_all(noise(NoiseKind::ellipse, 0.6), &high_stats);
  std::array<double, 4> clean_n{}, noisy_n{};
  for (size_t i = 0; i < fitted.size(); ++i) {
    EXPECT_EQ(cv::countNonZero((jittered[i] == 255) != (clean_labels()[i] == 255)), 0);
    for (int c = 0; c < 4; ++c) {
      clean_n[c] += cv::countNonZero(clean_labels()[i] == c);
      noisy_n[c] += cv::countNonZero(fitted[i] == c);
    }
  }
  EXPECT_GT(low_stats.changed_pixels, 0);
  // The fitted ellipses keep the class proportions roughly (the clasper's V fills in, as in the
  // reference's EndoVis18 ellipse labels: 5.1 % -> 7.5 %); jitter changes more.
  for (int c = 1; c < 4; ++c) {
    EXPECT_GT(noisy_n[c] / clean_n[c], 0.6) << "class " << c;
    EXPECT_LT(noisy_n[c] / clean_n[c], 2.0) << "class " << c;
  }
  EXPECT_GT(high_stats.changed_pixels, low_stats.changed_pixels);
  const double rate = double(high_stats.changed_pixels) / high_stats.pixels;
  EXPECT_GT(rate, 0.02);
  EXPECT_LT(rate, 0.4);
}

TEST(LabelNoise, DilateGrowsInstrumentsByTheRadius) {
  EXPECT_EQ(morphology_radius(0.3, 128, 160), 4);
  EXPECT_EQ(morphology_radius(0.1, 128, 160), 1);
  EXPECT_EQ(morphology_radius(0.0, 128, 160), 0);
  auto small = apply_all(noise(NoiseKind::dilate, 0.2));  // radius 1 at 64x80
  auto large = apply_all(noise(NoiseKind::dilate, 0.5));  // radius 3
  int64_t grown_small = 0, grown_large = 0;
  for (size_t i = 0; i < small.size(); ++i) {
    const cv::Mat& clean = clean_labels()[i];
    // Only background changes, into an instrument part.
    EXPECT_EQ(cv::countNonZero((small[i] != clean) & (clean != 0)), 0);
    grown_small += cv::countNonZero(small[i] != clean);
    grown_large += cv::countNonZero(large[i] != clean);
    // Every grown pixel lies within the radius of the instrument.
    cv::Mat dist;
    cv::distanceTransform(clean == 0 | clean == 255, dist, cv::DIST_L2, 5);
    double far;
    cv::minMaxLoc(dist, nullptr, &far, nullptr, nullptr, large[i] != clean);
    EXPECT_LE(far, 3.5);
  }
  EXPECT_GT(grown_small, 0);
  EXPECT_GT(grown_large, 2 * grown_small);
  auto none = apply_all(noise(NoiseKind::dilate, 0.0));
  for (size_t i = 0; i < none.size(); ++i) EXPECT_EQ(cv::countNonZero(none[i] != clean_labels()[i]), 0);
}

TEST(LabelNoise, ErodeShrinksInstruments) {
  auto noisy = apply_all(noise(NoiseKind::erode, 0.3));  // radius 2 at 64x80
  int64_t removed = 0, fg = 0;
  for (size_t i = 0; i < noisy.size(); ++i) {
    const cv::Mat& clean = clean_labels()[i];
    EXPECT_EQ(cv::countNonZero((noisy[i] != clean) & (noisy[i] != 0)), 0) << "eroded pixels become background";
    removed += cv::countNonZero(noisy[i] != clean);
    fg += cv::countNonZero((clean > 0) & (clean != 255));
    // A shaft leaving the image still reaches the border.
    cv::Mat border = noisy[i].clone();
    border(cv::Rect(1, 1, border.cols - 2, border.rows - 2)).setTo(0);
    EXPECT_GT(cv::countNonZero(border == 1), 0);
  }
  EXPECT_GT(removed, fg / 10);
  EXPECT_LT(removed, fg);
}

TEST(LabelNoise, DeterministicPerSeedAndName) {
  for (auto kind : {NoiseKind::ellipse, NoiseKind::symmetric, NoiseKind::asymmetric}) {
    auto o = noise(kind, 0.5, NoiseUnit::region, 11);
    const cv::Mat& clean = clean_labels()[3];
    cv::Mat a = apply_label_noise(clean, o, label_noise_stream(11, "x"));
    cv::Mat b = apply_label_noise(clean, o, label_noise_stream(11, "x"));
    EXPECT_EQ(cv::countNonZero(a != b), 0) << to_string(kind);
  }
  // Different seeds give different results (over the whole set).
  auto a = apply_all(noise(NoiseKind::symmetric, 0.3, NoiseUnit::pixel, 1));
  auto b = apply_all(noise(NoiseKind::symmetric, 0.3, NoiseUnit::pixel, 2));
  int64_t diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff += cv::countNonZero(a[i] != b[i]);
  EXPECT_GT(diff, 1000);
  EXPECT_NE(label_noise_stream(1, "a"), label_noise_stream(1, "b"));
  EXPECT_NE(label_noise_stream(1, "a"), label_noise_stream(2, "a"));
}

TEST(LabelNoise, WritesNoisyCopiesOfASplit) {
  TempDir dir;
  SynthOptions s;
  s.out = dir.str();
  s.source_train = 8, s.source_val = 1, s.source_test = 1, s.target_train = 1, s.target_val = 1, s.target_test = 1;
  s.height = 48, s.width = 64;
  s.progress = false;
  generate_synthetic_dataset(s);
  NoiseDatasetOptions o;
  o.data = (dir.path() / "source").string();
  o.out = (dir.path() / "noisy").string() + "/";
  o.noise = noise(NoiseKind::symmetric, 0.25, NoiseUnit::pixel, 3);
  o.progress = false;
  NoiseStats stats = write_noisy_labels(o);
  EXPECT_NEAR(double(stats.changed_pixels) / stats.pixels, 0.25, 0.03);
  EXPECT_FALSE(fs::exists(dir.path() / "noisy.partial"));
  EXPECT_TRUE(fs::is_regular_file(dir.path() / "noisy" / "noise.json"));
  // The written copies are the library's result for each name, and the same run gives the same bytes.
  DatasetOptions d;
  d.root = o.data;
  SegmentationDataset ds(d, "train");
  for (size_t i = 0; i < ds.size(); ++i) {
    cv::Mat written = cv::imread((dir.path() / "noisy" / (ds.names()[i] + ".png")).string(), cv::IMREAD_UNCHANGED);
    NoiseOptions n = o.noise;
    cv::Mat expected = apply_label_noise(ds.read_label(i), n, label_noise_stream(n.seed, ds.names()[i]));
    ASSERT_EQ(written.type(), CV_8UC1);
    EXPECT_EQ(cv::countNonZero(written != expected), 0) << ds.names()[i];
  }
  const std::string first = jcas::testing::read_bytes(dir.path() / "noisy" / "train_0000.png");
  write_noisy_labels(o);  // replaces its own previous output
  EXPECT_EQ(jcas::testing::read_bytes(dir.path() / "noisy" / "train_0000.png"), first);

  // Refuses to clobber the clean labels or an unrelated folder.
  auto bad = o;
  bad.out = (dir.path() / "source" / "label").string();
  EXPECT_THROW(write_noisy_labels(bad), UserError);
  bad.out = (dir.path() / "source").string();
  EXPECT_THROW(write_noisy_labels(bad), UserError);
  jcas::testing::write_bytes(dir.path() / "other" / "notes.txt", "keep me");
  bad.out = (dir.path() / "other").string();
  EXPECT_THROW(write_noisy_labels(bad), UserError);
  EXPECT_TRUE(fs::exists(dir.path() / "other" / "notes.txt"));
}
