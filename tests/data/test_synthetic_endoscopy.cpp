#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include <set>

#include "adapters/io/segmentation_dataset.h"
#include "data/synthetic_endoscopy.h"
#include "adapters/foundation/error.h"
#include "tests/support/temp_dir.h"

using namespace jcas;
using jcas::testing::TempDir;
namespace fs = std::filesystem;

namespace {

SynthOptions small_options(const std::string& out, uint64_t seed) {
  SynthOptions o;
  o.out = out;
  o.seed = seed;
  o.source_train = 6, o.source_val = 2, o.source_test = 2;
  o.target_train = 5, o.target_val = 2, o.target_test = 3;
  o.height = 64, o.width = 80;
  o.progress = false;
  return o;
}

// Relative path -> bytes of every file under root.
std::map<std::string, std::string> snapshot(const fs::path& root) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file()) files[fs::relative(e.path(), root).string()] = jcas::testing::read_bytes(e.path());
  return files;
}

}  // namespace

TEST(Synthetic, SameSeedGivesByteIdenticalFiles) {
  TempDir a, b;
  generate_synthetic_dataset(small_options(a.str(), 5));
  generate_synthetic_dataset(small_options(b.str(), 5));
  const auto fa = snapshot(a.path()), fb = snapshot(b.path());
  // 2 domains x (images + labels + 3 lists + info.json)
  EXPECT_EQ(fa.size(), 2u * 4u + (6 + 2 + 2 + 5 + 2 + 3) * 2u);
  ASSERT_EQ(fa.size(), fb.size());
  for (const auto& [name, bytes] : fa) {
    ASSERT_TRUE(fb.count(name)) << name;
    EXPECT_TRUE(bytes == fb.at(name)) << name << " differs between two runs with the same seed";
  }
}

TEST(Synthetic, DifferentSeedGivesDifferentImages) {
  TempDir a, b;
  generate_synthetic_dataset(small_options(a.str(), 5));
  generate_synthetic_dataset(small_options(b.str(), 6));
  const auto fa = snapshot(a.path()), fb = snapshot(b.path());
  int differing = 0, images = 0;
  for (const auto& [name, bytes] : fa) {
    if (name.find("img") == std::string::npos) continue;
    ++images;
    differing += bytes != fb.at(name);
  }
  EXPECT_EQ(differing, images);
}

TEST(Synthetic, SplitsAreIndependentOfOtherSplitsCounts) {
  TempDir a, b;
  auto oa = small_options(a.str(), 9), ob = oa;
  ob.out = b.str();
  ob.target_train = 2;  // fewer training images must not change the test images
  generate_synthetic_dataset(oa);
  generate_synthetic_dataset(ob);
  for (int i = 0; i < 3; ++i) {
    const auto rel = fs::path("target/img") / fmt::format("test_{:04d}.png", i);
    EXPECT_EQ(jcas::testing::read_bytes(a.path() / rel), jcas::testing::read_bytes(b.path() / rel)) << rel;
  }
}

TEST(Synthetic, LayoutAndLabelsAreValid) {
  TempDir dir;
  generate_synthetic_dataset(small_options(dir.str(), 3));
  for (const char* domain : {"source", "target"}) {
    const fs::path root = dir.path() / domain;
    EXPECT_FALSE(fs::exists(dir.path() / (std::string(".") + domain + ".partial")));
    const auto info = read_dataset_info(root.string());
    EXPECT_EQ(info.num_classes, 4);
    EXPECT_EQ(info.class_names, (std::vector<std::string>{"background", "shaft", "wrist", "clasper"}));
    std::set<int> classes;
    for (const char* split : {"train", "val", "test"}) {
      DatasetOptions o;
      o.root = root.string();
      SegmentationDataset ds(o, split);
      for (size_t i = 0; i < ds.size(); ++i) {
        cv::Mat img = cv::imread(ds.image_path(i), cv::IMREAD_UNCHANGED);
        ASSERT_EQ(img.type(), CV_8UC3) << ds.image_path(i);
        EXPECT_EQ(img.rows, 64);
        EXPECT_EQ(img.cols, 80);
        cv::Mat label = ds.read_label(i);  // throws on values >= 4
        double lo, hi;
        cv::minMaxLoc(label, &lo, &hi);
        EXPECT_LE(hi, 3) << ds.label_path(i);
        for (int c = 0; c < 4; ++c)
          if (cv::countNonZero(label == c)) classes.insert(c);
        // Every image has an instrument, and a shaft reaching the image border.
        EXPECT_GT(cv::countNonZero(label > 0), 0) << ds.label_path(i);
        cv::Mat border = label.clone();
        border(cv::Rect(1, 1, label.cols - 2, label.rows - 2)).setTo(0);
        EXPECT_GT(cv::countNonZero(border == 1), 0) << "no shaft at the border of " << ds.label_path(i);
        // Instruments are a minority of the pixels, as in real endoscopy.
        EXPECT_LT(cv::countNonZero(label > 0), label.total() * 0.6) << ds.label_path(i);
      }
    }
    EXPECT_EQ(classes, (std::set<int>{0, 1, 2, 3})) << domain;
  }
}

TEST(Synthetic, TargetStyleDiffersFromSource) {
  // A scene seed fixes the layout; the domain only changes the style. So the labels agree and
  // the images differ: the shift is appearance, not geometry.
  cv::Scalar src_mean, tgt_mean, src_shaft, tgt_shaft;
  const int n = 8;
  double abs_diff = 0;
  for (int i = 0; i < n; ++i) {
    auto s = render_synthetic_scene(SynthDomain::source, 100 + i, 128, 160);
    auto t = render_synthetic_scene(SynthDomain::target, 100 + i, 128, 160);
    EXPECT_EQ(cv::countNonZero(s.label != t.label), 0) << "scene " << i;
    src_mean += cv::mean(s.image) / n;
    tgt_mean += cv::mean(t.image) / n;
    src_shaft += cv::mean(s.image, s.label == 1) / n;
    tgt_shaft += cv::mean(t.image, t.label == 1) / n;
    cv::Mat d;
    cv::absdiff(s.image, t.image, d);
    const cv::Scalar m = cv::mean(d);
    abs_diff += (m[0] + m[1] + m[2]) / 3 / n;
  }
  EXPECT_GT(abs_diff, 15.0);  // about 25 grey levels at the time of writing
  const double src_lum = (src_mean[0] + src_mean[1] + src_mean[2]) / 3;
  const double tgt_lum = (tgt_mean[0] + tgt_mean[1] + tgt_mean[2]) / 3;
  EXPECT_LT(tgt_lum, src_lum - 5) << "the target is dimmer";
  EXPECT_GT(cv::norm(src_shaft - tgt_shaft), 30.0) << "shaft colours " << src_shaft << " vs " << tgt_shaft;
  EXPECT_GT(src_mean[2], src_mean[0]) << "tissue is red";
  // Same style and seed: identical pixels (rendering is a pure function).
  auto a = render_synthetic_scene(SynthDomain::target, 7, 64, 80), b = render_synthetic_scene(SynthDomain::target, 7, 64, 80);
  EXPECT_EQ(cv::norm(a.image, b.image, cv::NORM_INF), 0.0);
}

TEST(Synthetic, RejectsBadOptions) {
  TempDir dir;
  auto o = small_options(dir.str(), 1);
  o.target_val = 0;
  EXPECT_THROW(generate_synthetic_dataset(o), UserError);
  o = small_options("", 1);
  EXPECT_THROW(generate_synthetic_dataset(o), UserError);
  o = small_options(dir.str(), 1);
  o.height = 4;
  EXPECT_THROW(generate_synthetic_dataset(o), UserError);
}

TEST(Synthetic, PanelIsWritten) {
  TempDir dir;
  generate_synthetic_dataset(small_options(dir.str(), 2));
  const auto png = dir.path() / "panel" / "p.png";
  write_synthetic_panel(dir.str(), png.string(), 2);
  cv::Mat panel = cv::imread(png.string(), cv::IMREAD_COLOR);
  ASSERT_FALSE(panel.empty());
  EXPECT_GE(panel.rows, 4 * 64);
  EXPECT_GE(panel.cols, 2 * 80);
}

TEST(Synthetic, BytesDoNotDependOnThreadCount) {
  TempDir a, b;
  const int threads = cv::getNumThreads();
  cv::setNumThreads(1);
  generate_synthetic_dataset(small_options(a.str(), 8));
  cv::setNumThreads(std::max(4, threads));
  generate_synthetic_dataset(small_options(b.str(), 8));
  cv::setNumThreads(threads);
  EXPECT_TRUE(snapshot(a.path()) == snapshot(b.path()));
}

namespace {

// FNV-1a over an image's bytes (row by row).
uint64_t pixel_digest(const cv::Mat& m) {
  uint64_t h = 1469598103934665603ull;
  for (int y = 0; y < m.rows; ++y) {
    const uchar* p = m.ptr<uchar>(y);
    for (size_t i = 0; i < m.cols * m.elemSize(); ++i) h = (h ^ p[i]) * 1099511628211ull;
  }
  return h;
}

}  // namespace

TEST(Synthetic, ShiftOneIsTodaysTargetAndShiftOnlyMovesTheTarget) {
  // Shift 1 (the default) renders exactly what the renderer gave before the option existed:
  // digests of target scene 7 and source scene 7 at 64x80, recorded with the code before the change
  // (commit 9916cf2, Debian 12's OpenCV on x86-64, as the other byte-identity tests assume).
  auto t_default = render_synthetic_scene(SynthDomain::target, 7, 64, 80);
  auto t_one = render_synthetic_scene(SynthDomain::target, 7, 64, 80, 1.0);
  EXPECT_EQ(cv::norm(t_default.image, t_one.image, cv::NORM_INF), 0.0);
  EXPECT_EQ(pixel_digest(t_one.image), 0xf553c95c8e1ac622ull);
  EXPECT_EQ(pixel_digest(render_synthetic_scene(SynthDomain::source, 7, 64, 80).image), 0x58c56b4a8a7bb4c6ull);
  for (int i = 0; i < 4; ++i) {
    auto s1 = render_synthetic_scene(SynthDomain::source, 200 + i, 64, 80, 1.0);
    auto s15 = render_synthetic_scene(SynthDomain::source, 200 + i, 64, 80, 1.5);
    EXPECT_EQ(cv::norm(s1.image, s15.image, cv::NORM_INF), 0.0) << "the source does not move, scene " << i;
    auto t1 = render_synthetic_scene(SynthDomain::target, 200 + i, 64, 80, 1.0);
    auto t15 = render_synthetic_scene(SynthDomain::target, 200 + i, 64, 80, 1.5);
    EXPECT_EQ(cv::countNonZero(t1.label != t15.label), 0) << "the layout does not move, scene " << i;
    cv::Mat d1, d15;
    cv::absdiff(t1.image, t15.image, d1);
    const cv::Scalar m = cv::mean(d1);
    EXPECT_GT((m[0] + m[1] + m[2]) / 3, 3.0) << "a stronger shift changes the target, scene " << i;
    // Further from the source than the default target.
    cv::absdiff(s1.image, t1.image, d1);
    cv::absdiff(s1.image, t15.image, d15);
    EXPECT_GT(cv::mean(d15)[0] + cv::mean(d15)[1] + cv::mean(d15)[2],
              cv::mean(d1)[0] + cv::mean(d1)[1] + cv::mean(d1)[2]) << "scene " << i;
    // Shift 0 is the source style: the same scene as the source's up to float rounding.
    auto t0 = render_synthetic_scene(SynthDomain::target, 200 + i, 64, 80, 0.0);
    cv::absdiff(s1.image, t0.image, d1);
    EXPECT_LT(cv::norm(d1, cv::NORM_INF), 3.0) << "scene " << i;
  }
  // The whole range renders (clamped styles stay valid); outside it is a user error.
  for (double shift : {0.0, 0.5, 2.0, 3.0}) EXPECT_NO_THROW(render_synthetic_scene(SynthDomain::target, 3, 32, 40, shift));
  EXPECT_THROW(render_synthetic_scene(SynthDomain::target, 3, 32, 40, 3.5), UserError);
  EXPECT_THROW(render_synthetic_scene(SynthDomain::target, 3, 32, 40, -0.1), UserError);
  TempDir dir;
  auto o = small_options(dir.str(), 1);
  o.shift = 4;
  EXPECT_THROW(generate_synthetic_dataset(o), UserError);
}
