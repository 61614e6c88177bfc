// `jcas import` on small datasets made here: JPEG masks with compression artefacts, TIFF masks,
// colour masks, numbered frames, sub-folders, and every kind of bad input.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <set>

#include "adapters/foundation/error.h"
#include "adapters/io/dataset_check.h"
#include "adapters/io/segmentation_dataset.h"
#include "data/dataset_import.h"
#include "tests/support/temp_dir.h"

using jcas::ImportOptions;
using jcas::MaskEncoding;
using jcas::SplitRule;
using jcas::testing::TempDir;
namespace fs = std::filesystem;

namespace {

constexpr int kH = 24, kW = 32;

// A textured image and a disc (class `fg`) on background 0, different for each index.
cv::Mat test_image(int i) {
  cv::Mat img(kH, kW, CV_8UC3);
  cv::randu(img, cv::Scalar::all(20 + i), cv::Scalar::all(230));
  return img;
}
cv::Mat disc_ids(int i, int fg = 1) {
  cv::Mat ids = cv::Mat::zeros(kH, kW, CV_8U);
  cv::circle(ids, {8 + i % 12, 12}, 6, cv::Scalar(fg), cv::FILLED);
  return ids;
}

void write(const fs::path& file, const cv::Mat& m, std::vector<int> params = {}) {
  fs::create_directories(file.parent_path());
  ASSERT_TRUE(cv::imwrite(file.string(), m, params)) << file;
}

cv::Mat read_ids(const fs::path& file) { return cv::imread(file.string(), cv::IMREAD_UNCHANGED); }

std::string text(const fs::path& file) { return jcas::testing::read_bytes(file); }

ImportOptions options(const TempDir& dir) {
  ImportOptions o;
  o.images = (dir.path() / "images").string();
  o.masks = (dir.path() / "masks").string();
  o.out = (dir.path() / "out").string();
  o.classes = "background,polyp";
  return o;
}

// The error message of `import_dataset(o)`, checking that nothing was left behind.
std::string import_error(const ImportOptions& o) {
  std::string message;
  try {
    jcas::import_dataset(o);
  } catch (const jcas::UserError& e) {
    message = e.what();
  }
  EXPECT_FALSE(message.empty()) << "import succeeded";
  EXPECT_FALSE(fs::exists(o.out)) << "output written";
  for (const auto& e : fs::directory_iterator(fs::path(o.out).parent_path()))
    EXPECT_NE(e.path().extension(), ".tmp") << "left behind: " << e.path();
  return message;
}

}  // namespace

// Kvasir-SEG ships JPEG images with JPEG masks of 0/255 whose edges carry compression artefacts.
TEST(Import, BinaryJpegMasksAreThresholdedToClassIds) {
  TempDir dir;
  for (int i = 0; i < 10; ++i) {
    const std::string name = "cju" + std::to_string(1000 + i);
    write(dir.path() / "images" / (name + ".jpg"), test_image(i));
    cv::Mat rgb;
    cv::cvtColor(disc_ids(i) * 255, rgb, cv::COLOR_GRAY2BGR);
    write(dir.path() / "masks" / (name + ".jpg"), rgb, {cv::IMWRITE_JPEG_QUALITY, 60});
  }
  ImportOptions o = options(dir);
  const auto report = jcas::import_dataset(o);
  EXPECT_EQ(report.pairs, 10);
  EXPECT_EQ(report.split_sizes.at("train") + report.split_sizes.at("val") + report.split_sizes.at("test"), 10);
  const fs::path out = o.out;
  EXPECT_EQ(nlohmann::json::parse(text(out / "info.json")),
            nlohmann::json({{"classes", 2}, {"label", {"background", "polyp"}}}));
  const auto record = nlohmann::json::parse(text(out / "import.json"));
  EXPECT_EQ(record["pairs"], 10);
  EXPECT_EQ(record["options"]["mask-encoding"], "binary");
  EXPECT_GT(record["class_pixel_share"][1].get<double>(), 0.05);
  // The JPEG's grey levels around 0 and 255 map back to the disc, and images decode as the original.
  const cv::Mat ids = read_ids(out / "label" / "cju1003.png");
  ASSERT_EQ(ids.type(), CV_8UC1);
  EXPECT_EQ(cv::countNonZero(ids > 1), 0);
  EXPECT_LE(cv::countNonZero(ids != disc_ids(3)), 2);
  const cv::Mat original = cv::imread((dir.path() / "images" / "cju1003.jpg").string(), cv::IMREAD_COLOR);
  EXPECT_EQ(cv::norm(original, cv::imread((out / "img" / "cju1003.png").string(), cv::IMREAD_COLOR), cv::NORM_INF), 0);
  // The result is a jcas dataset every reader accepts.
  jcas::DatasetRead read;
  read.dataset.root = o.out;
  read.split = "train";
  jcas::validate_dataset_read(read);
  jcas::SegmentationDataset ds(read.dataset, "train");
  EXPECT_EQ(ds.num_classes(), 2);
  EXPECT_EQ(ds.size(), static_cast<size_t>(report.split_sizes.at("train")));
}

// CVC-ClinicDB ships TIFF images and masks; class ids pair with PNG images by name.
TEST(Import, TiffMasksOfClassIdsPairAcrossExtensions) {
  TempDir dir;
  for (int i = 1; i <= 4; ++i) {
    write(dir.path() / "images" / (std::to_string(i) + ".png"), test_image(i));
    cv::Mat ids = disc_ids(i, 2);
    ids(cv::Rect(0, 0, 3, 3)).setTo(255);  // ignore
    write(dir.path() / "masks" / (std::to_string(i) + ".tif"), ids);
  }
  ImportOptions o = options(dir);
  o.encoding = MaskEncoding::ids;
  o.classes = "background,shaft,wrist";
  o.split = SplitRule::ranges;
  o.ranges = "test=1-1,train=2-4";
  const auto report = jcas::import_dataset(o);
  EXPECT_EQ(report.ignored_pixels, 4 * 9);
  cv::Mat expected = disc_ids(2, 2);
  expected(cv::Rect(0, 0, 3, 3)).setTo(255);
  EXPECT_EQ(cv::countNonZero(read_ids(fs::path(o.out) / "label" / "2.png") != expected), 0);
  EXPECT_EQ(text(fs::path(o.out) / "test.txt"), "1\n");
  EXPECT_EQ(text(fs::path(o.out) / "train.txt"), "2\n3\n4\n");
}

// EndoVis and Kvasir-Instrument ship colour masks: each colour names a class; JPEG colours need a tolerance.
TEST(Import, ColourMasksMapToClasses) {
  TempDir dir;
  const cv::Vec3b red(0, 0, 255), green(0, 255, 0);  // BGR
  for (int i = 0; i < 3; ++i) {
    write(dir.path() / "images" / ("f" + std::to_string(i) + ".bmp"), test_image(i));
    cv::Mat colour(kH, kW, CV_8UC3, cv::Scalar::all(0));
    colour(cv::Rect(2, 2, 10, 8)).setTo(red);
    colour(cv::Rect(16, 10, 12, 10)).setTo(green);
    write(dir.path() / "masks" / ("f" + std::to_string(i) + ".png"), colour);
  }
  ImportOptions o = options(dir);
  o.encoding = MaskEncoding::rgb;
  o.classes = "background=0,0,0; instrument=255,0,0; tissue=0,255,0";
  jcas::import_dataset(o);
  const cv::Mat ids = read_ids(fs::path(o.out) / "label" / "f1.png");
  EXPECT_EQ(ids.at<uint8_t>(5, 5), 1);
  EXPECT_EQ(ids.at<uint8_t>(15, 20), 2);
  EXPECT_EQ(ids.at<uint8_t>(22, 2), 0);
  EXPECT_EQ(cv::countNonZero(ids == 1), 80);
  EXPECT_EQ(cv::countNonZero(ids == 2), 120);

  // A colour 3 levels off is unmapped at tolerance 0 and mapped at tolerance 3.
  cv::Mat off(kH, kW, CV_8UC3, cv::Scalar::all(0));
  off.at<cv::Vec3b>(4, 7) = cv::Vec3b(0, 3, 252);
  off.at<cv::Vec3b>(5, 7) = cv::Vec3b(0, 3, 252);
  write(dir.path() / "masks" / "f2.png", off);
  o.overwrite = true;
  fs::remove_all(o.out);
  const std::string message = import_error(o);
  EXPECT_NE(message.find("f2.png"), std::string::npos) << message;
  EXPECT_NE(message.find("2 pixel(s)"), std::string::npos) << message;
  EXPECT_NE(message.find("252,3,0 at x=7, y=4"), std::string::npos) << message;
  o.tolerance = 3;
  jcas::import_dataset(o);
  EXPECT_EQ(read_ids(fs::path(o.out) / "label" / "f2.png").at<uint8_t>(4, 7), 1);
}

TEST(Import, GreyLevelsMapToClasses) {
  TempDir dir;
  write(dir.path() / "images" / "a.png", test_image(0));
  cv::Mat grey(kH, kW, CV_8U, cv::Scalar(0));
  grey(cv::Rect(0, 0, 8, 8)).setTo(128);
  grey(cv::Rect(10, 10, 4, 4)).setTo(255);
  write(dir.path() / "masks" / "a.png", grey);
  ImportOptions o = options(dir);
  o.encoding = MaskEncoding::grey;
  o.classes = "background=0;liver=128;tumour=255";
  o.ratios = "1,0,0";
  jcas::import_dataset(o);
  const cv::Mat ids = read_ids(fs::path(o.out) / "label" / "a.png");
  EXPECT_EQ(cv::countNonZero(ids == 1), 64);
  EXPECT_EQ(cv::countNonZero(ids == 2), 16);
  EXPECT_EQ(text(fs::path(o.out) / "train.txt"), "a\n");
  EXPECT_FALSE(fs::exists(fs::path(o.out) / "val.txt"));  // empty splits get no list
}

// Frames of one video (a sub-folder here) never cross splits; the seed decides which video goes where.
TEST(Import, RatioSplitKeepsGroupsWholeAndFollowsTheSeed) {
  TempDir dir;
  for (int v = 0; v < 10; ++v)
    for (int f = 0; f < 3; ++f) {
      const std::string name = "video_" + std::to_string(v) + "/frame" + std::to_string(f);
      write(dir.path() / "images" / (name + ".jpg"), test_image(f));
      write(dir.path() / "masks" / (name + ".png"), disc_ids(f) * 255);
    }
  ImportOptions o = options(dir);
  o.group_regex = "^(video_[0-9]+)/";
  auto split_of_videos = [&](int64_t seed) {
    o.seed = seed;
    o.overwrite = true;
    const auto report = jcas::import_dataset(o);
    EXPECT_EQ(report.split_groups.at("train") + report.split_groups.at("val") + report.split_groups.at("test"), 10);
    std::map<std::string, std::set<std::string>> videos;  // video -> splits
    for (const char* s : {"train", "val", "test"}) {
      std::istringstream in(text(fs::path(o.out) / (std::string(s) + ".txt")));
      for (std::string name; std::getline(in, name);) videos[name.substr(0, name.find('/'))].insert(s);
    }
    std::string layout;
    for (const auto& [video, splits] : videos) {
      EXPECT_EQ(splits.size(), 1u) << video << " crosses splits";
      layout += *splits.begin() + " ";
    }
    EXPECT_EQ(videos.size(), 10u);
    return layout;
  };
  const std::string seed0 = split_of_videos(0);
  EXPECT_EQ(split_of_videos(0), seed0);
  EXPECT_TRUE(split_of_videos(1) != seed0 || split_of_videos(2) != seed0);
  EXPECT_TRUE(fs::is_regular_file(fs::path(o.out) / "img" / "video_3" / "frame2.png"));

  // Without groups the shares are those asked for.
  o.group_regex.clear();
  const auto report = jcas::import_dataset(o);
  EXPECT_EQ(report.split_sizes.at("train"), 21);
  EXPECT_EQ(report.split_sizes.at("val"), 3);
  EXPECT_EQ(report.split_sizes.at("test"), 6);
}

TEST(Import, SplitsFromListsAndUnlabelledImages) {
  TempDir dir;
  for (int i = 0; i < 3; ++i) write(dir.path() / "images" / ("im" + std::to_string(i) + ".png"), test_image(i));
  jcas::testing::write_bytes(dir.path() / "a.txt", "# adapted on\nim0.jpg\nim2\n");
  jcas::testing::write_bytes(dir.path() / "b.txt", "im1\n");
  ImportOptions o = options(dir);
  o.masks.clear();
  o.split = SplitRule::lists;
  o.lists = "train=" + (dir.path() / "a.txt").string() + ",test=" + (dir.path() / "b.txt").string();
  jcas::import_dataset(o);
  EXPECT_EQ(text(fs::path(o.out) / "train.txt"), "im0\nim2\n");
  EXPECT_EQ(text(fs::path(o.out) / "test.txt"), "im1\n");
  EXPECT_FALSE(fs::exists(fs::path(o.out) / "label"));
  jcas::SegmentationDataset ds({o.out}, "train", /*with_labels=*/false);
  EXPECT_EQ(ds.size(), 2u);

  // A pair in no list, and a listed name that is not there.
  jcas::testing::write_bytes(dir.path() / "b.txt", "\n");
  fs::remove_all(o.out);
  EXPECT_NE(import_error(o).find("1 pair(s) are in no list, e.g. 'im1'"), std::string::npos);
  jcas::testing::write_bytes(dir.path() / "b.txt", "im1\nim9\n");
  EXPECT_NE(import_error(o).find("'im9'"), std::string::npos);
}

TEST(ImportErrors, UnpairedFilesNameBothSides) {
  TempDir dir;
  for (int i = 0; i < 3; ++i) {
    write(dir.path() / "images" / ("x" + std::to_string(i) + ".jpg"), test_image(i));
    write(dir.path() / "masks" / ("x" + std::to_string(i) + ".png"), disc_ids(i) * 255);
  }
  write(dir.path() / "images" / "lonely.jpg", test_image(4));
  write(dir.path() / "masks" / "stray.tif", disc_ids(4));
  jcas::testing::write_bytes(dir.path() / "masks" / "notes.txt", "not an image");
  const std::string m = import_error(options(dir));
  EXPECT_NE(m.find("1 image(s) without a mask (e.g. 'lonely.jpg')"), std::string::npos) << m;
  EXPECT_NE(m.find("1 mask(s) without an image (e.g. 'stray.tif')"), std::string::npos) << m;
}

TEST(ImportErrors, SizeMismatchUnreadableFileAndColourIds) {
  TempDir dir;
  write(dir.path() / "images" / "a.png", test_image(0));
  write(dir.path() / "masks" / "a.png", cv::Mat::zeros(kH + 1, kW, CV_8U));
  ImportOptions o = options(dir);
  std::string m = import_error(o);
  EXPECT_NE(m.find("is 25x32 but its image"), std::string::npos) << m;

  jcas::testing::write_bytes(dir.path() / "masks" / "a.png", "not a png");
  m = import_error(o);
  EXPECT_NE(m.find("cannot read the mask"), std::string::npos) << m;

  cv::Mat colour(kH, kW, CV_8UC3, cv::Scalar(0, 0, 1));
  write(dir.path() / "masks" / "a.png", colour);
  o.encoding = MaskEncoding::ids;
  m = import_error(o);
  EXPECT_NE(m.find("--mask-encoding rgb"), std::string::npos) << m;

  // Grey masks read as class ids: the unmapped values are counted and the fix is named.
  write(dir.path() / "masks" / "a.png", disc_ids(0) * 200);
  m = import_error(o);
  EXPECT_NE(m.find(std::to_string(cv::countNonZero(disc_ids(0))) + " pixel(s)"), std::string::npos) << m;
  EXPECT_NE(m.find("--mask-encoding binary"), std::string::npos) << m;
}

TEST(ImportErrors, RangesMustCoverNumberedNames) {
  TempDir dir;
  for (const char* n : {"1", "2", "30"}) {
    write(dir.path() / "images" / (std::string(n) + ".png"), test_image(0));
    write(dir.path() / "masks" / (std::string(n) + ".png"), disc_ids(0));
  }
  ImportOptions o = options(dir);
  o.encoding = MaskEncoding::ids;
  o.split = SplitRule::ranges;
  o.ranges = "test=1-1,train=2-20";
  EXPECT_NE(import_error(o).find("1 pair(s) fall in no range, e.g. '30'"), std::string::npos);
  o.ranges = "test=1-5,train=5-40";
  EXPECT_NE(import_error(o).find("overlaps"), std::string::npos);
}

TEST(ImportErrors, OptionsAreCheckedFirst) {
  TempDir dir;
  ImportOptions o = options(dir);
  auto message = [&] {
    try {
      o.check();
    } catch (const jcas::UserError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  o.classes = "background=0;polyp=255";
  EXPECT_NE(message().find("does not take"), std::string::npos);
  o.encoding = MaskEncoding::rgb;
  EXPECT_NE(message().find("R,G,B"), std::string::npos);
  o.classes = "background=0,0,0,polyp=255,0,0";
  EXPECT_NE(message().find("R,G,B"), std::string::npos);
  o.encoding = MaskEncoding::binary;
  o.classes = "a,b,c";
  EXPECT_NE(message().find("two classes"), std::string::npos);
  o.classes = "a,b";
  o.ratios = "0.5,0.5";
  EXPECT_NE(message().find("three shares"), std::string::npos);
  o.ratios = "0.7,0.1,0.2";
  o.group_regex = "(unclosed";
  EXPECT_NE(message().find("--group-regex"), std::string::npos);
  o.group_regex.clear();
  o.split = SplitRule::ranges;
  o.ranges = "test=9-1";
  EXPECT_NE(message().find("ends before it starts"), std::string::npos);
  o.ranges = "test=1-9";
  EXPECT_EQ(message(), "");

  // An existing output is kept unless --overwrite.
  write(dir.path() / "images" / "a.png", test_image(0));
  write(dir.path() / "masks" / "a.png", disc_ids(0));
  fs::create_directories(o.out);
  o.split = SplitRule::ratio;
  try {
    jcas::import_dataset(o);
    ADD_FAILURE() << "imported over an existing folder";
  } catch (const jcas::UserError& e) {
    EXPECT_NE(std::string(e.what()).find("--overwrite"), std::string::npos);
  }
}
